package testutil

import (
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// LoadConfig unmarshals the section id of the YAML file at path into cfg (a component's default
// config) and validates it as the collector does; the error is the unmarshal or validation error.
func LoadConfig(t testing.TB, path, id string, cfg any) error {
	t.Helper()
	cm, err := confmaptest.LoadConf(path)
	if err != nil {
		t.Fatalf("cannot load %s: %v", path, err)
	}
	sub, err := cm.Sub(id)
	if err != nil {
		t.Fatalf("no section %q in %s: %v", id, path, err)
	}
	if err := sub.Unmarshal(cfg); err != nil {
		return err
	}
	return confmap.Validate(cfg)
}
