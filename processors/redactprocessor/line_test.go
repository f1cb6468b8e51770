package redactprocessor

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLineRedactor(t *testing.T) {
	const v = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk" // a secret value
	r := NewLineRedactor(DefaultRules())
	for _, tc := range []struct {
		name, line string
		keep       bool   // returned unchanged
		withheld   bool   // replaced by Withheld
		contains   string // in the result
	}{
		{name: "no rule field", line: `level=warn msg="card declined" order=42`, keep: true},
		{name: "the word data without a key", line: `WARN loaded data for secret rotation`, keep: true},
		{name: "a data key in an ordinary JSON line", line: `{"level":"warn","msg":"slow","data":{"rows":3}}`, keep: true},
		{name: "a Secret object", line: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"` + v + `"},"type":"Opaque"}`, contains: `"kind":"Secret"`},
		{name: "a SecretList", line: `{"apiVersion":"v1","kind":"SecretList","items":[{"metadata":{"name":"db"},"stringData":{"p":"` + v + `"}}]}`, contains: `"kind":"SecretList"`},
		{name: "a TokenRequest", line: `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","status":{"token":"` + v + `"}}`, contains: `TokenRequest`},
		{name: "an audit event", line: `{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"create","objectRef":{"resource":"secrets","namespace":"shop","name":"db","apiVersion":"v1"},"requestObject":{"kind":"Secret","apiVersion":"v1","data":{"k":"` + v + `"}}}`, contains: `"objectRef"`},
		{name: "a ConfigMap is no rule's", line: `{"apiVersion":"v1","kind":"ConfigMap","data":{"k":"plain"}}`, keep: true},
		{name: "a Secret inside a JSON log line", line: `{"level":"error","msg":"apply failed","object":{"kind":"Secret","data":{"k":"` + v + `"}}}`, withheld: true},
		{name: "klog with a secret's data", line: `E1207 05:00:00.000 1 x.go:1] failed to sync secret shop/db: data: map[k:` + v + `]`, withheld: true},
		{name: "logfmt token", line: `level=warn msg="refresh failed" token=` + v, withheld: true},
		{name: "escaped JSON in a string", line: `{"msg":"{\"kind\":\"Secret\",\"data\":{\"k\":\"` + v + `\"}}"}`, withheld: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := r.Redact(tc.line)
			if tc.keep {
				require.False(t, changed)
				require.Equal(t, tc.line, got)
				return
			}
			require.True(t, changed)
			require.NotContains(t, got, v)
			if tc.withheld {
				require.Equal(t, Withheld, got)
			} else {
				require.NotEqual(t, Withheld, got)
				require.Contains(t, got, tc.contains)
			}
		})
	}
}

func TestResourceOfKind(t *testing.T) {
	for kind, want := range map[string]string{"Secret": "secrets", "Ingress": "ingresses", "NetworkPolicy": "networkpolicies", "TokenReview": "tokenreviews"} {
		res, _ := resourceOfKind(kind)
		require.Equal(t, want, res, kind)
	}
	res, sub := resourceOfKind("TokenRequest")
	require.Equal(t, "serviceaccounts/token", res+"/"+sub)
	require.False(t, strings.Contains(Withheld, "secret"), "the marker itself names no secret")
}
