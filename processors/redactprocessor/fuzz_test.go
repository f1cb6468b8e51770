package redactprocessor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzShapes build events of sensitive resources that carry one secret value (tok) in a place
// that the apiserver records it: the data of a secret, its last-applied annotation, patches of
// every kind, lists, tables, webhook patches, tokens, shapes the redactor does not understand.
var fuzzShapes = []struct {
	resource, subresource, group string
	event                        func(key, name, tok string) map[string]any
}{
	{"secrets", "", "", func(key, name, tok string) map[string]any { // create
		return event("create", name, secretOf(name, key, tok), secretOf(name, key, tok))
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // kubectl apply: last-applied
		s := secretOf(name, key, tok)
		s["metadata"].(map[string]any)["annotations"] = map[string]any{lastApplied: mustJSON(secretOf(name, key, tok)) + "\n"}
		return event("create", name, s, s)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // JSON patch of one key
		return event("patch", name, []any{map[string]any{"op": "replace", "path": "/data/" + escapePointer(key), "value": tok}}, secretOf(name, key, tok))
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // JSON patch of the data
		return event("patch", name, []any{map[string]any{"op": "add", "path": "/stringData", "value": map[string]any{key: tok}}}, nil)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // JSON patch of the whole object
		return event("patch", name, []any{map[string]any{"op": "replace", "path": "", "value": secretOf(name, key, tok)}}, nil)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // JSON patch of the annotation
		return event("patch", name, []any{map[string]any{"op": "add", "path": "/metadata/annotations/" + escapePointer(lastApplied),
			"value": mustJSON(secretOf(name, key, tok))}}, nil)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // merge patch
		return event("patch", name, map[string]any{"stringData": map[string]any{key: tok}, "metadata": map[string]any{"annotations": map[string]any{lastApplied: mustJSON(secretOf(name, key, tok))}}}, nil)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // list
		return event("list", "", nil, map[string]any{"kind": "SecretList", "apiVersion": "v1", "items": []any{secretOf(name, key, tok)}})
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // kubectl get: a table
		return event("list", "", nil, map[string]any{"kind": "Table", "apiVersion": "meta.k8s.io/v1",
			"columnDefinitions": []any{map[string]any{"name": "Name", "type": "string", "format": "name"}},
			"rows":              []any{map[string]any{"cells": []any{name}, "object": secretOf(name, key, tok)}}})
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // a mutating webhook's patch
		ev := event("create", name, secretOf(name, "k", "v"), nil)
		ev["annotations"].(map[string]any)[webhookPatch+"round_0_index_0"] = mustJSON(map[string]any{"configuration": "c", "webhook": "w",
			"patch": []any{map[string]any{"op": "add", "path": "/data/" + escapePointer(key), "value": tok}}, "patchType": "JSONPatch"})
		return ev
	}},
	{"serviceaccounts", "token", "", func(key, name, tok string) map[string]any { // TokenRequest
		return event("create", name, nil, map[string]any{"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
			"spec": map[string]any{"audiences": []any{key}}, "status": map[string]any{"token": tok}})
	}},
	{"tokenreviews", "", "authentication.k8s.io", func(key, name, tok string) map[string]any { // TokenReview
		r := map[string]any{"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "spec": map[string]any{"token": tok, "audiences": []any{key}}}
		return event("create", "", r, r)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // an apply patch kept as YAML text
		return event("patch", name, "stringData:\n  "+key+": "+tok+"\n", nil)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // an unknown wrapper
		return event("get", name, nil, map[string]any{"type": "ADDED", "object": secretOf(name, key, tok)})
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // a YAML copy in an annotation
		s := secretOf(name, "k", "v")
		s["metadata"].(map[string]any)["annotations"] = map[string]any{"copy": "data:\n  " + key + ": " + tok + "\n"}
		return event("update", name, s, nil)
	}},
	{"secrets", "", "", func(key, name, tok string) map[string]any { // a JSON patch moving data to an annotation
		resp := secretOf(name, "k", "v")
		resp["metadata"].(map[string]any)["annotations"] = map[string]any{"moved": tok}
		return event("patch", name, []any{map[string]any{"op": "move", "from": "/data/" + escapePointer(key), "path": "/metadata/annotations/moved"}}, resp)
	}},
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func event(verb, name string, req, resp any) map[string]any {
	ev := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "a", "stage": "ResponseComplete",
		"verb": verb, "objectRef": map[string]any{"resource": "secrets", "namespace": "shop", "name": name, "apiVersion": "v1"},
		"annotations": map[string]any{"authorization.k8s.io/decision": "allow"}}
	if req != nil {
		ev["requestObject"] = req
	}
	if resp != nil {
		ev["responseObject"] = resp
	}
	return ev
}

func secretOf(name, key, tok string) map[string]any {
	return map[string]any{"kind": "Secret", "apiVersion": "v1", "metadata": map[string]any{"name": name, "namespace": "shop"},
		"data": map[string]any{key: tok}, "type": "Opaque"}
}

func mustJSON(v any) string { return encodeJSON(v) }

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// FuzzNoSecretLeaks: whatever the key, name and value, the value of a secret never leaves the
// processor, in any shape of fuzzShapes, as text, as JSON text or as JSON inside a JSON string.
func FuzzNoSecretLeaks(f *testing.F) {
	f.Add(uint8(0), "password", "db", "c3VwZXJzZWNyZXQ=")
	f.Add(uint8(1), "tls.key", "tls", "LS0tLS1CRUdJTi1wcml2YXRlLWtleQ==")
	f.Add(uint8(2), "a/b~c", "x", `"quoted\" & <escaped>`)
	f.Add(uint8(9), "data", "data", "stringData")
	f.Add(uint8(14), "", "", "\n")
	f.Fuzz(func(t *testing.T, shape uint8, key, name, value string) {
		s := fuzzShapes[int(shape)%len(fuzzShapes)]
		tok := "s3cr3t" + value
		if strings.Contains(key, "s3cr3t") || strings.Contains(name, "s3cr3t") {
			t.Skip("the secret is also in a place that is not secret")
		}
		body := encodeJSON(s.event(key, name, tok))
		if !strings.Contains(body, "s3cr3t") {
			t.Fatalf("shape %d does not carry the secret: %s", int(shape)%len(fuzzShapes), body)
		}
		out, _ := runRef(t, createDefaultConfig(), s.resource, s.subresource, s.group, body)
		require.True(t, json.Valid([]byte(out)), "the output is JSON: %s", out)
		once := encodeJSON(tok)
		once = once[1 : len(once)-1]
		twice := encodeJSON(once)
		for _, form := range []string{tok, once, twice[1 : len(twice)-1]} {
			if strings.Contains(out, form) {
				t.Fatalf("shape %d: the secret %q is in the output:\n%s", int(shape)%len(fuzzShapes), tok, out)
			}
		}
	})
}

// FuzzRedactBody: on any body of an event about secrets the processor neither panics nor
// lets out a body that is not JSON, and no data or stringData key is left in a request or
// response object (or in a JSON annotation of one), but as the key of a label or annotation.
func FuzzRedactBody(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(string(raw))
	}
	f.Add(`{"requestObject":[{"op":"add","path":"/data","value":{"k":"v"}}],"responseObject":"x"}`)
	f.Add(`{"request\u004fbject":{"data":{"k":"v"}},"RESPONSEOBJECT":{"items":[{"data":1}]}}`)
	f.Add(`{"requestObject":{"data":{"k":"v"}},"requestObject":{"kind":"Secret"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		out, _ := runRef(t, createDefaultConfig(), "secrets", "", "", body)
		if out == body {
			return
		}
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &ev), "the output is a JSON object: %s", out)
		for k, v := range ev {
			if strings.EqualFold(k, "requestObject") || strings.EqualFold(k, "responseObject") {
				if where := leftField(v, ""); where != "" {
					t.Fatalf("%s%s is left in:\n%s", k, where, out)
				}
			}
		}
	})
}

// leftField finds a data or stringData key in v that is not the key of a label or annotation.
func leftField(v any, at string) string {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if k == "data" || k == "stringData" {
				return at + "." + k
			}
			if k == "labels" || k == "annotations" {
				if m, ok := c.(map[string]any); ok {
					for ak, av := range m {
						if s, ok := av.(string); ok {
							if doc, err := decodeJSON(s); err == nil {
								if w := leftField(doc, at+"."+k+"["+ak+"]"); w != "" {
									return w
								}
							}
						}
					}
					continue
				}
			}
			if w := leftField(c, at+"."+k); w != "" {
				return w
			}
		}
	case []any:
		for _, c := range t {
			if w := leftField(c, at+"[]"); w != "" {
				return w
			}
		}
	}
	return ""
}
