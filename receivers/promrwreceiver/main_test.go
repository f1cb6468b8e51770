package promrwreceiver

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestRefusalsLoggedOncePerInterval: a sender that keeps sending bad requests gets every one
// refused and counted, but the log gets one line per refusalLogInterval.
func TestRefusalsLoggedOncePerInterval(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	set := receivertest.NewNopSettings(Type)
	set.Logger = zap.New(core)
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	r, err := NewFactory().CreateMetrics(context.Background(), set, cfg, &consumertest.MetricsSink{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	url := "http://" + cfg.NetAddr.Endpoint + "/api/v1/write"
	for range 20 {
		if code, msg := post(t, url, encode(t, mkSeries("up"))); code != http.StatusUnauthorized || !strings.Contains(msg, "no cluster") {
			t.Fatalf("%d %s", code, msg)
		}
	}
	refusals := logs.FilterMessageSnippet("remote-write request refused").All()
	if len(refusals) != 1 {
		t.Fatalf("%d refusal log lines for 20 refusals, want 1", len(refusals))
	}
	if refusals[0].ContextMap()["reason"] != reqNoCluster {
		t.Fatalf("logged %v", refusals[0].ContextMap())
	}
}
