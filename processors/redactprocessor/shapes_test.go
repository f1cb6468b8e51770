package redactprocessor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The secret values of testdata/*.json: the data (base64), the plain password, a token, and
// the data of a TLS secret.
const (
	testData     = "c3VwZXJzZWNyZXQtZGItcGFzcw=="
	testPassword = "supersecret-db-pass"
	testToken    = "eyJhbGciOiJSUzI1NiIsImtpZCI6Imxlc3MifQ.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLWxlYWs"
	testTLSKey   = "LS0tLS1CRUdJTi1wcml2YXRlLWtleQ=="
	testTLSCert  = "LS0tLS1CRUdJTi1jZXJ0"
)

var testSecrets = []string{testData, testPassword, testToken, testTLSKey, testTLSCert}

// loadEvent reads a testdata event and compacts it, as the apiserver sends it.
func loadEvent(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, raw))
	return buf.String()
}

// eventRef is the objectRef of an event, as the k8saudit receiver puts it in attributes.
func eventRef(t *testing.T, body string) (resource, subresource, group string) {
	t.Helper()
	var ev struct {
		ObjectRef struct{ Resource, Subresource, APIGroup string }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ev))
	return ev.ObjectRef.Resource, ev.ObjectRef.Subresource, ev.ObjectRef.APIGroup
}

func TestRealShapes(t *testing.T) {
	for _, tc := range []struct {
		file    string
		paths   []string // the marker lists these (among others)
		keep    []string // still in the output
		removed string   // AttrRemoved; "" when every object was redacted field by field
	}{
		{file: "apply-create.json", paths: []string{
			"requestObject.data",
			"requestObject.metadata.annotations[kubectl.kubernetes.io/last-applied-configuration].data",
			"responseObject.metadata.managedFields[0].fieldsV1.f:data",
		}, keep: []string{`"name":"db"`, `"app":"shop"`, `\"name\":\"db\"`, `"f:type"`, `"manager":"kubectl-client-side-apply"`}},
		{file: "apply-smp.json", paths: []string{
			"requestObject.data", "requestObject.metadata.annotations[kubectl.kubernetes.io/last-applied-configuration].data",
		}, keep: []string{`kubectl.kubernetes.io/last-applied-configuration`}},
		{file: "json-patch.json", paths: []string{"requestObject[0].value", "requestObject[2].value"},
			keep: []string{`{"op":"replace","path":"/data/password"}`, `"value":"2026-11-22"`}},
		{file: "merge-patch.json", paths: []string{"requestObject.stringData"}, keep: []string{`"rotated":"2026-11-22"`}},
		{file: "server-side-apply.json", paths: []string{"requestObject.stringData", "responseObject.metadata.managedFields[0].fieldsV1.f:stringData"},
			keep: []string{`"operation":"Apply"`}},
		{file: "list.json", paths: []string{"responseObject.items[0].data|stringData", "responseObject.items[1].data|stringData",
			"responseObject.items[0].metadata.annotations[kubectl.kubernetes.io/last-applied-configuration].data"},
			keep: []string{`"name":"tls"`, `"type":"kubernetes.io/tls"`}},
		{file: "table.json", paths: []string{"responseObject.rows[*].cells[1]", "responseObject.rows[*].cells[2]",
			"responseObject.rows[0].object.metadata.annotations[kubectl.kubernetes.io/last-applied-configuration].data",
			"responseObject.rows[1].object.data"},
			keep: []string{`"cells":["db",null,null,"5d"]`, `"name":"Type"`}},
		{file: "deletecollection.json", paths: []string{"responseObject.items[0].data|stringData"}, keep: []string{`"propagationPolicy":"Background"`}},
		{file: "status.json", paths: []string{"requestObject.stringData"}, keep: []string{`"reason":"AlreadyExists"`}},
		{file: "v1beta1-update.json", paths: []string{"requestObject.data", "responseObject.data"}, keep: []string{`"apiVersion":"audit.k8s.io/v1beta1"`}},
		{file: "tokenrequest.json", paths: []string{"requestObject.status.token", "responseObject.status.token"},
			keep: []string{`"expirationTimestamp":"2026-11-22T11:15:03Z"`, `"audiences":["https://kubernetes.default.svc"]`}},
		{file: "tokenreview.json", paths: []string{"requestObject.spec.token", "responseObject.spec.token"},
			keep: []string{`"username":"system:serviceaccount:shop:deployer"`}},
		{file: "webhook-patch.json", paths: []string{"annotations[patch.webhook.admission.k8s.io/round_0_index_0].patch[0].value", "responseObject.data"},
			keep: []string{`\"webhook\":\"inject.example.com\"`, `secret-injector`}},
		{file: "unknown-wrapper.json", paths: []string{"responseObject"}, removed: "responseObject:unredacted_field"},
		{file: "apply-yaml-text.json", paths: []string{"requestObject", "responseObject.data"}, removed: "requestObject:not_an_object"},
		{file: "json-patch-copy.json", paths: []string{"responseObject"}, removed: "responseObject:patch_moves_secret",
			keep: []string{`{"from":"/data/password","op":"copy","path":"/metadata/annotations/backup"}`}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := loadEvent(t, tc.file)
			require.True(t, containsAny(body, testSecrets), "the input carries a secret")
			res, sub, group := eventRef(t, body)
			out, attrs := runRef(t, createDefaultConfig(), res, sub, group, body)
			for _, s := range testSecrets {
				require.NotContains(t, out, s)
			}
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &ev), "the output is JSON")
			ann := ev["annotations"].(map[string]any)
			marker, _ := ann[Annotation].(string)
			require.Equal(t, marker, attrs[AttrRedacted])
			for _, p := range tc.paths {
				require.Contains(t, strings.Split(marker, ","), p)
			}
			for _, k := range tc.keep {
				require.Contains(t, out, k)
			}
			require.Equal(t, "allow", ann["authorization.k8s.io/decision"])
			again, _ := runRef(t, createDefaultConfig(), res, sub, group, out)
			require.Equal(t, out, again, "redacting again (agent, then gateway) changes nothing")
			if tc.removed == "" {
				require.NotContains(t, attrs, AttrRemoved)
				require.NotContains(t, ann, RemovedAnnotation)
				return
			}
			require.Equal(t, tc.removed, attrs[AttrRemoved])
			what, _, _ := strings.Cut(tc.removed, ":")
			require.NotContains(t, ev, what, "removed whole")
			require.Contains(t, ann[RemovedAnnotation], what+": ")
			// What is safe stays: the objectRef names the secret.
			require.Equal(t, "db", ev["objectRef"].(map[string]any)["name"])
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
