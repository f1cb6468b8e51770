package out

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func props(kv map[string]string) func(string) string {
	return func(key string) string {
		for k, v := range kv { // Fluent Bit's lookup ignores case
			if strings.EqualFold(k, key) {
				return v
			}
		}
		return ""
	}
}

func TestParseConfig(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("token-of-cluster-a-0123456789\n"), 0o600))
	c, err := ParseConfig(props(map[string]string{"endpoint": "vigil-agent:4317"}))
	require.NoError(t, err)
	require.Equal(t, Config{Endpoint: "vigil-agent:4317", TLS: true, TLSVerify: true, Timeout: 30 * time.Second,
		Labels: []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app"}}, c)

	c, err = ParseConfig(props(map[string]string{"Endpoint": "127.0.0.1:4317", "TLS": "Off", "Bearer_Token_File": tokenFile,
		"Timeout": "5s", "Compress": "gzip", "Pod_Labels": "team, app"}))
	require.NoError(t, err)
	require.Equal(t, Config{Endpoint: "127.0.0.1:4317", TLS: false, TLSVerify: true, Timeout: 5 * time.Second, Compress: "gzip",
		BearerToken: "token-of-cluster-a-0123456789", Labels: []string{"team", "app"}}, c)
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := ParseConfig(props(map[string]string{"TLS": "maybe", "tls.verify": "x", "tls.crt_file": "c.pem",
		"Bearer_Token": "t", "Bearer_Token_File": "/nonexistent/token", "Timeout": "-1s", "Compress": "zstd"}))
	require.Error(t, err)
	for _, want := range []string{
		"Endpoint: must be set",
		`TLS: "maybe" is not on or off`,
		`tls.verify: "x" is not on or off`,
		"tls.crt_file, tls.key_file: set both or neither",
		"Bearer_Token, Bearer_Token_File: set one of them",
		"Bearer_Token_File: cannot read the token",
		`Timeout: "-1s" is not a positive duration`,
		`Compress: "zstd" is not gzip or empty`,
	} {
		require.ErrorContains(t, err, want)
	}
	_, err = ParseConfig(props(map[string]string{"Endpoint": "no-port"}))
	require.ErrorContains(t, err, `Endpoint: "no-port" is not host:port`)
	_, err = ParseConfig(props(map[string]string{"Endpoint": "h:1", "TLS": "off", "tls.ca_file": "ca.pem"}))
	require.ErrorContains(t, err, "TLS: is off but tls.ca_file or tls.crt_file is set")
}

func TestClassify(t *testing.T) {
	for code, want := range map[codes.Code]Result{
		codes.Unavailable: Retry, codes.ResourceExhausted: Retry, codes.DeadlineExceeded: Retry,
		codes.Unauthenticated: Retry, codes.Internal: Retry, codes.Aborted: Retry,
		codes.InvalidArgument: Error, codes.PermissionDenied: Error, codes.Unimplemented: Error,
	} {
		require.Equal(t, want, Classify(status.Error(code, "x")), code.String())
	}
	require.Equal(t, Retry, Classify(context.DeadlineExceeded))
	require.Equal(t, Retry, Classify(errors.New("plain")), "an error without a status is Unknown: retried")
}

func TestLogsGroupsByContainer(t *testing.T) {
	c, err := ParseConfig(props(map[string]string{"Endpoint": "127.0.0.1:1", "TLS": "off"}))
	require.NoError(t, err)
	o, err := New(c, t.Logf)
	require.NoError(t, err)
	defer o.Close()
	k8s := func(pod string) map[any]any {
		return map[any]any{"pod_name": []byte(pod), "namespace_name": []byte("ns")}
	}
	ts := time.Unix(1765083662, 5)
	ld, bad := o.Logs("tag", []Event{
		{Time: ts, Record: map[any]any{"log": []byte("a"), "kubernetes": k8s("p1")}},
		{Time: ts, Record: map[any]any{"log": []byte("b"), "kubernetes": k8s("p2")}},
		{Time: ts, Record: map[any]any{"log": []byte("c"), "kubernetes": k8s("p1")}},
		{Time: ts, Record: []byte("not a map")},
	})
	require.Equal(t, 1, bad)
	require.Equal(t, 2, ld.ResourceLogs().Len())
	require.Equal(t, 2, ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().Len())
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1)
	require.Equal(t, "c", lr.Body().Str())
	require.Equal(t, ts.UnixNano(), int64(lr.Timestamp()))
	// Nothing to send and nothing bad: OK without a call; only bad records: ERROR.
	require.Equal(t, OK, o.Flush(context.Background(), "tag", nil, 0))
	require.Equal(t, Error, o.Flush(context.Background(), "tag", []Event{{Record: "x"}}, 0))
	require.Equal(t, Error, o.Flush(context.Background(), "tag", nil, 2))
}

// answering is an OTLP/gRPC logs server answering every export with err (nil: success, with
// rejected records refused by partial success), recording the authorization it was sent.
type answering struct {
	plogotlp.UnimplementedGRPCServer
	err      error
	rejected int64
	mu       sync.Mutex
	auth     []string
	records  int
}

func (s *answering) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.auth = append(s.auth, md.Get("authorization")...)
	s.records += req.Logs().LogRecordCount()
	s.mu.Unlock()
	resp := plogotlp.NewExportResponse()
	if s.rejected > 0 {
		resp.PartialSuccess().SetRejectedLogRecords(s.rejected)
		resp.PartialSuccess().SetErrorMessage("refused")
	}
	return resp, s.err
}

// TestFlushAnswersByOutcome: vigil's answers become FLB codes — success and partial success OK,
// push-back (ResourceExhausted, Unavailable) RETRY, refusals (InvalidArgument, PermissionDenied)
// ERROR — and the bearer token goes in the authorization header.
func TestFlushAnswersByOutcome(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		rejected int64
		want     Result
	}{
		{"acknowledged", nil, 0, OK},
		{"partly refused", nil, 1, OK},
		{"push-back: queue full", status.Error(codes.ResourceExhausted, "disk queue full"), 0, Retry},
		{"push-back: unavailable", status.Error(codes.Unavailable, "shutting down"), 0, Retry},
		{"invalid", status.Error(codes.InvalidArgument, "bad"), 0, Error},
		{"another cluster", status.Error(codes.PermissionDenied, "cluster-b claimed"), 0, Error},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			srv := grpc.NewServer()
			s := &answering{err: tc.err, rejected: tc.rejected}
			plogotlp.RegisterGRPCServer(srv, s)
			go func() { _ = srv.Serve(l) }()
			defer srv.Stop()
			c, err := ParseConfig(props(map[string]string{"Endpoint": l.Addr().String(), "TLS": "off",
				"Bearer_Token": "token-of-cluster-a-0123456789", "Timeout": "5s"}))
			require.NoError(t, err)
			o, err := New(c, t.Logf)
			require.NoError(t, err)
			defer o.Close()
			got := o.Flush(context.Background(), "tag", []Event{{Time: time.Now(), Record: map[string]any{"log": "x"}}}, 0)
			require.Equal(t, tc.want, got)
			s.mu.Lock()
			defer s.mu.Unlock()
			require.Equal(t, 1, s.records)
			require.Equal(t, []string{"Bearer token-of-cluster-a-0123456789"}, s.auth)
		})
	}
}
