package redactprocessor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
)

func run(t *testing.T, cfg *Config, resource, group, body string) (string, map[string]any) {
	t.Helper()
	return runRef(t, cfg, resource, "", group, body)
}

// runRef passes one record through the processor, with the attributes the k8saudit receiver
// sets (empty ones left out, as it does), and returns its body and attributes.
func runRef(t *testing.T, cfg *Config, resource, subresource, group, body string) (string, map[string]any) {
	t.Helper()
	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr(body)
	lr.Attributes().PutStr("k8s.audit.object.resource", resource)
	if group != "" {
		lr.Attributes().PutStr("k8s.audit.object.api_group", group)
	}
	if subresource != "" {
		lr.Attributes().PutStr("k8s.audit.object.subresource", subresource)
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	out := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	return out.Body().AsString(), out.Attributes().AsRaw()
}

func TestRedactsSecrets(t *testing.T) {
	body := `{"kind":"Event","auditID":"x","stage":"ResponseComplete","level":"RequestResponse","annotations":{"authorization.k8s.io/decision":"allow"},
		"requestObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","namespace":"shop"},"data":{"password":"c2VjcmV0"},"stringData":{"token":"plain"},"type":"Opaque"},
		"responseObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","resourceVersion":"12345678901234567890"},"data":{"password":"c2VjcmV0"}}}`
	out, attrs := run(t, createDefaultConfig(), "secrets", "", body)
	require.NotContains(t, out, "c2VjcmV0")
	require.NotContains(t, out, "plain")
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ev))
	require.Equal(t, "requestObject.data,requestObject.stringData,responseObject.data", ev["annotations"].(map[string]any)[Annotation])
	require.Equal(t, "allow", ev["annotations"].(map[string]any)["authorization.k8s.io/decision"], "other annotations stay")
	require.Equal(t, "Opaque", ev["requestObject"].(map[string]any)["type"], "the rest of the object stays")
	require.Contains(t, out, `"resourceVersion":"12345678901234567890"`)
	require.Equal(t, "requestObject.data,requestObject.stringData,responseObject.data", attrs["k8s.audit.redacted"])
}

func TestRedactsEveryItemOfAList(t *testing.T) {
	body := `{"auditID":"x","stage":"ResponseComplete","responseObject":{"kind":"SecretList","items":[{"metadata":{"name":"a"},"data":{"k":"djE="}},{"metadata":{"name":"b"},"data":{"k":"djI="}}]}}`
	out, _ := run(t, createDefaultConfig(), "secrets", "", body)
	require.NotContains(t, out, "djE=")
	require.NotContains(t, out, "djI=")
	require.Contains(t, out, "responseObject.items[0].data|stringData")
	require.Contains(t, out, `"name":"b"`)
}

func TestLeavesOtherEventsAsSent(t *testing.T) {
	cm := `{"auditID":"x","requestObject":{"kind":"ConfigMap","data":{"k":"v"}}}`
	out, attrs := run(t, createDefaultConfig(), "configmaps", "", cm)
	require.Equal(t, cm, out, "not a configured resource: byte for byte as sent")
	require.NotContains(t, attrs, "k8s.audit.redacted")

	meta := `{"auditID":"x","level":"Metadata","objectRef":{"resource":"secrets"}}`
	out, _ = run(t, createDefaultConfig(), "secrets", "", meta)
	require.Equal(t, meta, out, "a Metadata-level event carries no object")

	other := `{"auditID":"x","requestObject":{"data":{"k":"v"}}}`
	out, _ = run(t, createDefaultConfig(), "secrets", "example.com", other)
	require.Equal(t, other, out, "secrets of another API group are not core secrets")
}

func TestUndecodableBodyOfASecretIsRemoved(t *testing.T) {
	out, attrs := run(t, createDefaultConfig(), "secrets", "", `{"requestObject": {"data": "c2VjcmV0"`)
	require.NotContains(t, out, "c2VjcmV0")
	require.Equal(t, "body", attrs["k8s.audit.redacted"])
}

func TestCustomRulesAndValidation(t *testing.T) {
	cfg := &Config{Rules: []Rule{{Resources: []string{"configmaps"}, Fields: []string{"data"}}}}
	require.NoError(t, cfg.Validate())
	out, _ := run(t, cfg, "configmaps", "", `{"requestObject":{"kind":"ConfigMap","data":{"k":"v"}}}`)
	require.False(t, strings.Contains(out, `"k":"v"`))

	bad := &Config{Rules: []Rule{{Fields: []string{"metadata"}}}}
	err := bad.Validate()
	require.ErrorContains(t, err, "rules[0].resources: must list at least one resource")
	require.ErrorContains(t, err, `rules[0].fields[0]: "metadata" cannot be redacted`)
}
