package fluentk8sprocessor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/vigil-obs/vigil/internal/fluentk8s"
	"github.com/vigil-obs/vigil/internal/testutil"
)

func loadConfig(t *testing.T, id string) (*Config, error) {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	return cfg, testutil.LoadConfig(t, filepath.Join("testdata", "config.yaml"), id, cfg)
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(t, "fluentk8s")
	require.NoError(t, err)
	require.Equal(t, &Config{Labels: fluentk8s.DefaultLabels}, cfg)
	cfg, err = loadConfig(t, "fluentk8s/gateway")
	require.NoError(t, err)
	require.Equal(t, &Config{Cluster: "beside-gateway", Labels: []string{"team"}}, cfg)
	_, err = loadConfig(t, "fluentk8s/bad")
	require.ErrorContains(t, err, "labels[0]: must not be empty")
	_, err = loadConfig(t, "fluentk8s/unknown_key")
	require.ErrorContains(t, err, "has invalid keys: clustr")
}

// receiverShaped builds logs as the fluent_forward receiver does: one resource without
// attributes, the line in the body, the other fields (kubernetes as a map) in the attributes.
func receiverShaped(records ...map[string]any) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range records {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(1234)
		lr.Body().SetStr(r["log"].(string))
		delete(r, "log")
		_ = lr.Attributes().FromRaw(r)
		lr.Attributes().PutStr("fluent.tag", "kube.var.log")
	}
	return ld
}

func TestProcessGroupsByIdentity(t *testing.T) {
	sink := new(consumertest.LogsSink)
	cfg := &Config{Cluster: "c1", Labels: []string{"app"}}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	k8s := func(pod string) map[string]any {
		return map[string]any{"namespace_name": "ns", "pod_name": pod, "container_name": "c", "host": "n1",
			"labels": map[string]any{"app": "a", "other": "x"}}
	}
	ld := receiverShaped(
		map[string]any{"log": "one\n", "stream": "stdout", "kubernetes": k8s("p1")},
		map[string]any{"log": "[ERROR] two", "stream": "stdout", "kubernetes": k8s("p2")},
		map[string]any{"log": "three", "stream": "stderr", "kubernetes": k8s("p1"), "level": "warn"},
		map[string]any{"log": "no metadata"},
	)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	out := sink.AllLogs()[0]
	require.Equal(t, 3, out.ResourceLogs().Len(), "p1, p2 and the record without metadata")
	type rec struct{ body, sev, stream string }
	got := map[string][]rec{}
	for i := 0; i < out.ResourceLogs().Len(); i++ {
		rl := out.ResourceLogs().At(i)
		attrs := rl.Resource().Attributes().AsRaw()
		require.Equal(t, "c1", attrs["k8s.cluster.name"])
		key := "none"
		if pod, ok := attrs["k8s.pod.name"]; ok {
			key = pod.(string)
			require.Equal(t, map[string]any{"k8s.cluster.name": "c1", "k8s.namespace.name": "ns", "k8s.pod.name": pod,
				"k8s.container.name": "c", "k8s.node.name": "n1", "k8s.pod.label.app": "a"}, attrs)
		}
		lrs := rl.ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			lr := lrs.At(k)
			require.EqualValues(t, 1234, lr.Timestamp())
			_, hasK8s := lr.Attributes().Get("kubernetes")
			require.False(t, hasK8s)
			tag, _ := lr.Attributes().Get("fluent.tag")
			require.Equal(t, "kube.var.log", tag.Str())
			stream, _ := lr.Attributes().Get("log.iostream")
			got[key] = append(got[key], rec{lr.Body().Str(), lr.SeverityText(), stream.Str()})
		}
	}
	require.Equal(t, map[string][]rec{
		"p1":   {{"one", "INFO", "stdout"}, {"three", "WARN", "stderr"}},
		"p2":   {{"[ERROR] two", "ERROR", "stdout"}},
		"none": {{"no metadata", "INFO", ""}},
	}, got)
}
