package bodylimitextension

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/extensions/bodylimitextension/internal/metadata"
	"github.com/vigil-obs/vigil/internal/httpbody"
)

// Type is the component type of the extension in YAML.
var Type = metadata.Type

// Config has no options: the limit is the receiver's own max_request_body_size.
type Config struct {
	_ struct{}
}

// NewFactory returns the factory of the bodylimit extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, func() component.Config { return &Config{} }, create, metadata.ExtensionStability)
}

func create(_ context.Context, set extension.Settings, _ component.Config) (extension.Extension, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &bodyLimit{rejected: tb.BodylimitRejectedRequests}, nil
}

type bodyLimit struct {
	rejected metric.Int64Counter
}

var _ extensionmiddleware.HTTPServer = (*bodyLimit)(nil)

func (*bodyLimit) Start(context.Context, component.Host) error { return nil }
func (*bodyLimit) Shutdown(context.Context) error              { return nil }

// GetHTTPHandler wraps a receiver's handler. The body it sees is already limited by the
// collector's server (an *http.MaxBytesError past the limit); it reads the body, answers 413 with
// the limit when it is too large, and hands the receiver the bytes otherwise.
func (b *bodyLimit) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			body, err := httpbody.Read(r.Body, r.ContentLength, 0) // the server's MaxBytesReader holds the limit
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				b.rejected.Add(r.Context(), 1)
				w.Header().Set("Connection", "close")
				http.Error(w, fmt.Sprintf("request body exceeds the limit of %d bytes; send smaller batches or raise "+
					"max_request_body_size of this receiver's http protocol", tooLarge.Limit), http.StatusRequestEntityTooLarge)
				return
			case err != nil:
				http.Error(w, "cannot read request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		}), nil
	}, nil
}
