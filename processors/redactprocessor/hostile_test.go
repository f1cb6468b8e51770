package redactprocessor

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const hidden = "hidden-secret-value"

func TestShapesTheRedactorDoesNotKnowAreRemovedWhole(t *testing.T) {
	for _, tc := range []struct {
		name, body, removed string
	}{
		{"a response that is an array", `{"responseObject":[{"data":{"k":"` + hidden + `"}}]}`, "responseObject:not_an_object"},
		{"a JSON patch operation without a path", `{"requestObject":[{"op":"add","value":{"data":{"k":"` + hidden + `"}}}]}`, "requestObject:invalid_json_patch"},
		{"a JSON patch path that is not a pointer", `{"requestObject":[{"op":"add","path":"data/k","value":"` + hidden + `"}]}`, "requestObject:invalid_json_patch"},
		{"a JSON patch replacing the object with a string", `{"requestObject":[{"op":"replace","path":"","value":"` + hidden + `"}]}`, "requestObject:invalid_json_patch"},
		{"items that are not objects", `{"responseObject":{"kind":"SecretList","items":["` + hidden + `"]}}`, "responseObject:unknown_shape"},
		{"labels holding an object", `{"requestObject":{"metadata":{"labels":{"x":{"data":"` + hidden + `"}}}}}`, "requestObject:unknown_shape"},
		{"annotations that are a list", `{"requestObject":{"metadata":{"annotations":["` + hidden + `"]}}}`, "requestObject:unknown_shape"},
		{"table rows that are not objects", `{"responseObject":{"kind":"Table","rows":[["` + hidden + `"]]}}`, "responseObject:unknown_shape"},
		{"a column definition holding data", `{"responseObject":{"kind":"Table","columnDefinitions":[{"name":"x","data":"` + hidden + `"}],"rows":[]}}`, "responseObject:unredacted_field"},
		{"data nested in an unknown field", `{"responseObject":{"kind":"Secret","spec":{"data":{"k":"` + hidden + `"}}}}`, "responseObject:unredacted_field"},
		{"a value copied into a label", `{"requestObject":{"metadata":{"labels":{"copy":"` + hidden + `"}},"data":{"k":"` + hidden + `"}}}`,
			"requestObject:secret_value_elsewhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, attrs := run(t, createDefaultConfig(), "secrets", "", tc.body)
			require.NotContains(t, out, hidden)
			require.Equal(t, tc.removed, attrs[AttrRemoved])
			what, _, _ := strings.Cut(tc.removed, ":")
			require.Contains(t, out, `"`+RemovedAnnotation+`":"`+what+`: `)
			require.Contains(t, strings.Split(attrs[AttrRedacted].(string), ","), what)
		})
	}
}

func TestKeysTheApiserverDoesNotWriteCannotHideAnObject(t *testing.T) {
	for name, body := range map[string]string{
		"another case":      `{"RequestObject":{"data":{"k":"` + hidden + `"}}}`,
		"an escaped letter": `{"request\u004fbject":{"data":{"k":"` + hidden + `"}}}`,
		"a duplicate key":   `{"requestObject":{"data":{"k":"` + hidden + `"}},"requestObject":{"kind":"Secret"}}`,
		"a patch operation's member beyond RFC 6902": `{"requestObject":[{"op":"add","path":"/metadata/labels/x","value":"y","data":{"k":"` + hidden + `"}}]}`,
		"a duplicate member":                         `{"requestObject":{"kind":"Secret","data":{"k":"` + hidden + `"},"data":null}}`,
	} {
		t.Run(name, func(t *testing.T) {
			out, _ := run(t, createDefaultConfig(), "secrets", "", body)
			require.NotContains(t, out, hidden)
		})
	}
	out, attrs := run(t, createDefaultConfig(), "secrets", "", `{"requestObject":{"kind":"Secret"}} {"data":{"k":"`+hidden+`"}}`)
	require.NotContains(t, out, hidden, "data after the event")
	require.Equal(t, "body", attrs[AttrRedacted])
}

func TestRulesMatchGroupsAndSubresources(t *testing.T) {
	secret := `{"requestObject":{"kind":"Secret","data":{"k":"` + hidden + `"}}}`
	for _, group := range []string{"", "core-attribute-present"} {
		// The receiver leaves out an empty apiGroup; another source may send it empty.
		sink := &consumertest.LogsSink{}
		p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), sink)
		require.NoError(t, err)
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.Body().SetStr(secret)
		lr.Attributes().PutStr(attrResource, "secrets")
		if group != "" {
			lr.Attributes().PutStr(attrAPIGroup, "")
		}
		require.NoError(t, p.ConsumeLogs(context.Background(), ld))
		require.NotContains(t, sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().AsString(), hidden, group)
	}
	sa := `{"responseObject":{"kind":"ServiceAccount","metadata":{"name":"deployer"},"secrets":[{"name":"deployer-token"}]}}`
	out, _ := runRef(t, createDefaultConfig(), "serviceaccounts", "", "", sa)
	require.Equal(t, sa, out, "serviceaccounts/token does not cover service accounts themselves")
	tok := `{"responseObject":{"kind":"TokenRequest","status":{"token":"` + hidden + `"}}}`
	out, _ = runRef(t, createDefaultConfig(), "serviceaccounts", "token", "", tok)
	require.NotContains(t, out, hidden)

	cfg := &Config{Rules: []Rule{{Resources: []string{"widgets"}, APIGroups: []string{"example.com"}, Fields: []string{"spec.keys"}}}}
	require.NoError(t, cfg.Validate())
	smp := `{"requestObject":{"spec":{"$deleteFromPrimitiveList/keys":["` + hidden + `"],"$retainKeys":["keys"],"size":3}}}`
	out, attrs := runRef(t, cfg, "widgets", "status", "example.com", smp)
	require.NotContains(t, out, hidden, "a strategic merge patch directive lists the values of the field")
	require.Equal(t, "requestObject.spec[$deleteFromPrimitiveList/keys]", attrs[AttrRedacted])
	require.Contains(t, out, `"size":3`)
}

func TestConfigErrorsOfPathsAndSubresources(t *testing.T) {
	bad := &Config{Rules: []Rule{{Resources: []string{"a/b/c", "/x"}, Fields: []string{"spec..token", "data.*", "metadata.name"}}}}
	err := bad.Validate()
	require.ErrorContains(t, err, `rules[0].resources[0]: "a/b/c" is not a resource or resource/subresource`)
	require.ErrorContains(t, err, `rules[0].resources[1]: "/x" is not a resource`)
	require.ErrorContains(t, err, `rules[0].fields[0]: "spec..token" is not a field name or a dotted path`)
	require.ErrorContains(t, err, `rules[0].fields[1]: "data.*" is not a field name`)
	require.ErrorContains(t, err, `rules[0].fields[2]: "metadata.name" cannot be redacted`)
	require.NoError(t, createDefaultConfig().Validate())
}

func TestRemovedObjectsAreCountedByReason(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p, err := NewFactory().CreateLogs(context.Background(), set, createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, body := range []string{
		`{"requestObject":"apiVersion: v1","responseObject":{"kind":"Secret","data":{"k":"djE="}}}`,
		`{"requestObject":[{"op":"add"}]}`,
		`{"requestObject":{"kind":"Secret"}}`,
	} {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(body)
		lr.Attributes().PutStr(attrResource, "secrets")
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	counts := func(name, label string) map[string]int64 {
		m, err := tel.GetMetric(name)
		require.NoError(t, err)
		out := map[string]int64{}
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			v, _ := dp.Attributes.Value(attribute.Key(label))
			out[v.AsString()] += dp.Value
		}
		return out
	}
	require.Equal(t, map[string]int64{ReasonNotAnObject: 1, ReasonInvalidJSONPatch: 1}, counts("vigil_redact_removed_objects", "reason"))
	require.Equal(t, map[string]int64{"redacted": 2, "clean": 1}, counts("vigil_redact_events", "result"))
}
