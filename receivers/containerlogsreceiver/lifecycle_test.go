package containerlogsreceiver

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
)

// lifecycleHost is the host of the generated lifecycle test: a walstorage extension for the files' positions.
func lifecycleHost(t *testing.T) component.Host { return walstoragetest.LifecycleHost(t) }
