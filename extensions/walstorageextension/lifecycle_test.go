package walstorageextension

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// lifecycleHost is the host of the generated lifecycle test. It moves the test into a temporary
// directory, where the queue's relative directory (metadata.yaml) is made.
func lifecycleHost(t *testing.T) component.Host {
	t.Helper()
	t.Chdir(t.TempDir())
	return testutil.Host(nil)
}
