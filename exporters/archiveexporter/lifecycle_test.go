package archiveexporter

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
)

// lifecycleHost is the host of the generated lifecycle test: a walstorage extension for the
// staged objects. It moves the test into a temporary directory too, so that the bucket's relative
// directory (metadata.yaml) and the objects written at shutdown land there.
func lifecycleHost(t *testing.T) component.Host {
	t.Chdir(t.TempDir())
	return walstoragetest.LifecycleHost(t)
}
