package bodylimitextension

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

func TestBodyLimit(t *testing.T) {
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(Type), &Config{})
	require.NoError(t, err)
	wrap, err := ext.(*bodyLimit).GetHTTPHandler(context.Background())
	require.NoError(t, err)
	var got string
	h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		w.WriteHeader(http.StatusOK)
	}))
	require.NoError(t, err)
	// As the collector's server does: the body is limited before the middleware sees it.
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 10)
		h.ServeHTTP(w, r)
	})

	tests := []struct {
		name     string
		body     string
		wantCode int
		wantMsg  string
		wantSeen string
	}{
		{name: "within the limit", body: "0123456789", wantCode: http.StatusOK, wantSeen: "0123456789"},
		{name: "over the limit", body: "0123456789x", wantCode: http.StatusRequestEntityTooLarge,
			wantMsg: "request body exceeds the limit of 10 bytes; send smaller batches or raise max_request_body_size"},
		{name: "empty", body: "", wantCode: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = ""
			rec := httptest.NewRecorder()
			limited.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/logs", strings.NewReader(tt.body)))
			require.Equal(t, tt.wantCode, rec.Code)
			require.Contains(t, rec.Body.String(), tt.wantMsg)
			require.Equal(t, tt.wantSeen, got)
		})
	}
}
