package containerlogsreceiver

import (
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/logseverity"
)

// severity is logseverity.Of: the level of a record from its body, else its stream.
func severity(stream string, body []byte) (plog.SeverityNumber, string) {
	return logseverity.Of(stream, body)
}
