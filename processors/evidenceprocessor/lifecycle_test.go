package evidenceprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// lifecycleHost is the host of the generated lifecycle test: it holds the evidence extension that
// the default config names.
func lifecycleHost(t *testing.T) component.Host {
	t.Helper()
	ef := evidenceextension.NewFactory()
	ext, err := ef.Create(context.Background(), extensiontest.NewNopSettings(ef.Type()), ef.CreateDefaultConfig())
	require.NoError(t, err)
	return testutil.Host(map[component.ID]component.Component{component.NewID(evidenceextension.Type): ext})
}
