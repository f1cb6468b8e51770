package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// allInOne is a running `vigil` started without --config, on free ports.
type allInOne struct {
	proc                       *testutil.Process
	grpcAddr, httpAddr, health string
	auditAddr, apiAddr         string
	metricsURL, dataDir        string
}

func startAllInOne(t *testing.T, extraArgs ...string) *allInOne {
	t.Helper()
	return startAllInOneOnMetricsPort(t, testutil.FreePort(t), extraArgs...)
}

// startAllInOneOnMetricsPort is startAllInOne with its own metrics on metricsPort (for arguments
// that name it, such as --scrape of vigil itself).
func startAllInOneOnMetricsPort(t *testing.T, metricsPort int, extraArgs ...string) *allInOne {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the vigil binary; skipped with -short")
	}
	bin := testutil.VigilBinary(t)
	a := &allInOne{
		grpcAddr: testutil.FreeAddr(t), httpAddr: testutil.FreeAddr(t), health: testutil.FreeAddr(t),
		auditAddr: testutil.FreeAddr(t), apiAddr: testutil.FreeAddr(t),
		dataDir: filepath.Join(t.TempDir(), "data"),
	}
	a.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	env := []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + a.grpcAddr, "VIGIL_OTLP_HTTP_ENDPOINT=" + a.httpAddr,
		"VIGIL_HEALTH_ENDPOINT=" + a.health, fmt.Sprintf("VIGIL_METRICS_PORT=%d", metricsPort),
		"VIGIL_DATA_DIR=", "VIGIL_AUDIT_ENDPOINT=" + a.auditAddr, "VIGIL_API_ENDPOINT=" + a.apiAddr,
	}
	a.proc = testutil.Start(t, "vigil all-in-one", env, bin, append([]string{"--data-dir", a.dataDir}, extraArgs...)...)
	testutil.WaitHTTP(t, "http://"+a.health+"/", 30*time.Second, a.proc)
	testutil.WaitHTTP(t, a.metricsURL, 10*time.Second, a.proc)
	return a
}

// sendSDKLogs emits n log records through the OpenTelemetry Go SDK over OTLP/HTTP.
func sendSDKLogs(t *testing.T, endpoint string, n int, body string) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(endpoint), otlploghttp.WithInsecure())
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	logger := lp.Logger("vigil-test")
	for i := range n {
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetBody(attribute.StringValue(fmt.Sprintf("%s %d", body, i)))
		logger.Emit(ctx, rec)
	}
	require.NoError(t, lp.Shutdown(ctx), "the SDK must deliver every record")
}

func TestAllInOneRunsWithEmbeddedDefaults(t *testing.T) {
	a := startAllInOne(t)

	// The banner says what listens where and where data goes.
	testutil.Eventually(t, 5*time.Second, func() error {
		out := a.proc.Output()
		for _, want := range []string{"config embedded:allinone.yaml", a.grpcAddr, a.httpAddr, a.metricsURL, a.dataDir} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("banner lacks %q", want)
			}
		}
		return nil
	})

	sendSDKLogs(t, a.httpAddr, 250, "hello")
	testutil.Eventually(t, 10*time.Second, func() error {
		got, err := testutil.ScrapeSum(a.metricsURL, "otelcol_receiver_accepted_log_records_total", `receiver="otlp"`)
		if err != nil {
			return err
		}
		if got < 250 {
			return fmt.Errorf("accepted %v log records, want 250", got)
		}
		return nil
	})

	// The kube-apiserver audit webhook is on by default.
	events, err := os.ReadFile("../../receivers/k8sauditreceiver/testdata/eventlist.json")
	require.NoError(t, err)
	resp, err := http.Post("http://"+a.auditAddr+"/audit", "application/json", bytes.NewReader(events))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	testutil.Eventually(t, 10*time.Second, func() error {
		got, err := testutil.ScrapeSum(a.metricsURL, "otelcol_receiver_accepted_log_records_total", `receiver="k8saudit"`)
		if err != nil {
			return err
		}
		if got != 7 {
			return fmt.Errorf("accepted %v audit events, want 7", got)
		}
		return nil
	})

	// SIGTERM stops it cleanly within a few seconds.
	took, err := a.proc.Stop(10 * time.Second)
	require.NoError(t, err, "vigil must exit 0 on SIGTERM")
	require.Less(t, took, 5*time.Second)
}

func TestAllInOneRejectsBadInput(t *testing.T) {
	a := startAllInOne(t,
		"--set=receivers.otlp.protocols.http.max_request_body_size=4096",
		"--set=receivers.otlp.protocols.grpc.max_recv_msg_size_mib=1")

	post := func(body []byte, contentType string) (int, string) {
		resp, err := http.Post("http://"+a.httpAddr+"/v1/logs", contentType, bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, msg := post([]byte("\x0a\xff\xff\xff\xffgarbage"), "application/x-protobuf")
	require.Equal(t, http.StatusBadRequest, code, msg)
	require.NotEmpty(t, msg, "a rejection carries a message")

	code, msg = post([]byte(`{"resourceLogs": [`), "application/json")
	require.Equal(t, http.StatusBadRequest, code, msg)
	require.NotEmpty(t, msg)

	code, msg = post(bytes.Repeat([]byte("x"), 64<<10), "application/x-protobuf")
	require.Equal(t, http.StatusRequestEntityTooLarge, code, msg)
	require.Contains(t, msg, "exceeds the limit of 4096 bytes")
	require.Contains(t, msg, "max_request_body_size")
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := testutil.ScrapeSum(a.metricsURL, "vigil_bodylimit_rejected_requests_total")
		return err
	})

	// gRPC: a message over max_recv_msg_size_mib is refused with the limit named.
	conn, err := grpc.NewClient(a.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	big := plog.NewLogs()
	big.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(strings.Repeat("y", 2<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(big))
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "error: %v", err)
	require.Contains(t, err.Error(), fmt.Sprint(1<<20), "the limit is named")

	// gRPC: bytes that are not an OTLP protobuf are refused with a message naming the problem.
	var out rawMessage
	err = conn.Invoke(ctx, "/opentelemetry.proto.collector.logs.v1.LogsService/Export", ptrTo(rawMessage("\x0a\xff\xff\xff\xffgarbage")), &out,
		grpc.ForceCodecV2(rawCodec{}))
	require.Error(t, err)
	require.Contains(t, err.Error(), "unmarshal")
	t.Logf("malformed OTLP/gRPC: %v", err)

	// The process survived all of it and still accepts good data.
	require.False(t, a.proc.Exited())
	sendSDKLogs(t, a.httpAddr, 3, "still alive")
	require.NoError(t, a.proc.Cmd.Process.Signal(syscall.Signal(0)))
}

// rawMessage and rawCodec send arbitrary bytes as a gRPC request.
type rawMessage []byte

type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*(v.(*rawMessage)))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*rawMessage)) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

func ptrTo[T any](v T) *T { return &v }
