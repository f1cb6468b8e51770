package clusterauthextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/vigil-obs/vigil/extensions/clusterauthextension/internal/metadata"
)

// Type is the component type of the extension in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the clusterauth extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, func() component.Config { return &Config{} }, create, metadata.ExtensionStability)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newAuthenticator(cfg.(*Config), set.Logger), nil
}
