package opensearchexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// template returns the index template: explicit mappings for the audit fields; request and
// response objects are kept in _source but not indexed (no mapping explosion from arbitrary
// resources).
func (e *osExporter) template() []byte {
	kw := map[string]any{"type": "keyword"}
	off := map[string]any{"type": "object", "enabled": false}
	t := map[string]any{
		"index_patterns": []string{e.cfg.IndexPrefix + "-*"},
		"priority":       100,
		"template": map[string]any{
			"settings": map[string]any{
				"index.number_of_shards":                   1,
				"plugins.index_state_management.policy_id": e.policyID(),
			},
			"mappings": map[string]any{
				"properties": map[string]any{
					"@timestamp": map[string]any{"type": "date"}, "cluster": kw,
					"auditID": kw, "stage": kw, "level": kw, "verb": kw, "requestURI": kw,
					"user":             map[string]any{"properties": map[string]any{"username": kw, "uid": kw, "groups": kw}},
					"impersonatedUser": map[string]any{"properties": map[string]any{"username": kw, "groups": kw}},
					"sourceIPs":        map[string]any{"type": "ip"},
					"userAgent":        map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 512}}},
					"objectRef": map[string]any{"properties": map[string]any{
						"resource": kw, "namespace": kw, "name": kw, "apiGroup": kw, "apiVersion": kw, "subresource": kw, "uid": kw}},
					"responseStatus":           map[string]any{"properties": map[string]any{"code": map[string]any{"type": "integer"}}},
					"requestReceivedTimestamp": map[string]any{"type": "date"},
					"stageTimestamp":           map[string]any{"type": "date"},
					"vigil_received_time":      map[string]any{"type": "date"},
					"requestObject":            off, "responseObject": off, "annotations": off,
				},
			},
		},
	}
	b, _ := json.Marshal(t)
	return b
}

func (e *osExporter) policyID() string { return e.cfg.IndexPrefix + "-retention" }

// policy is the ISM policy: hot until the retention age, then delete; it attaches itself to new
// indices of the prefix.
func (e *osExporter) policy() []byte {
	age := fmt.Sprintf("%dh", int(e.cfg.Retention.Hours()))
	p := map[string]any{"policy": map[string]any{
		"description":   fmt.Sprintf("vigil: delete %s-* indices %s after creation", e.cfg.IndexPrefix, age),
		"default_state": "hot",
		"states": []any{
			map[string]any{"name": "hot", "actions": []any{},
				"transitions": []any{map[string]any{"state_name": "delete", "conditions": map[string]any{"min_index_age": age}}}},
			map[string]any{"name": "delete", "actions": []any{map[string]any{"delete": map[string]any{}}}, "transitions": []any{}},
		},
		"ism_template": []any{map[string]any{"index_patterns": []string{e.cfg.IndexPrefix + "-*"}, "priority": 100}},
	}}
	b, _ := json.Marshal(p)
	return b
}

// install puts the index template (idempotent: PUT replaces it) and creates the ISM policy if it
// does not exist yet (an existing policy, maybe edited by an operator, is left alone).
func (e *osExporter) install(ctx context.Context) error {
	if status, body, err := e.do(ctx, http.MethodPut, "/_index_template/"+e.cfg.IndexPrefix, e.template()); err != nil {
		return fmt.Errorf("cannot install index template %q: %w", e.cfg.IndexPrefix, err)
	} else if status != http.StatusOK {
		return fmt.Errorf("cannot install index template %q: OpenSearch answered %d: %s", e.cfg.IndexPrefix, status, body)
	}
	path := "/_plugins/_ism/policies/" + e.policyID()
	status, body, err := e.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("cannot read ISM policy %q: %w", e.policyID(), err)
	}
	if status == http.StatusOK {
		return nil
	}
	if status != http.StatusNotFound {
		return fmt.Errorf("cannot read ISM policy %q: OpenSearch answered %d: %s", e.policyID(), status, body)
	}
	status, body, err = e.do(ctx, http.MethodPut, path, e.policy())
	switch {
	case err != nil:
		return fmt.Errorf("cannot create ISM policy %q: %w", e.policyID(), err)
	case status == http.StatusConflict: // another replica created it meanwhile
		return nil
	case status != http.StatusOK && status != http.StatusCreated:
		return fmt.Errorf("cannot create ISM policy %q: OpenSearch answered %d: %s", e.policyID(), status, body)
	}
	return nil
}

// do performs one JSON request through the opensearch-go client and returns status and body.
func (e *osExporter) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	return e.doContentType(ctx, method, path, body, "application/json")
}

func (e *osExporter) doContentType(ctx context.Context, method, path string, body []byte, contentType string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	return e.send(req)
}

// send performs req through the opensearch-go client and returns status and body.
func (e *osExporter) send(req *http.Request) (int, []byte, error) {
	resp, err := e.client.Stream(req) // we own and read the body
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	const limit = 64 << 20
	var b bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= limit {
		b.Grow(int(n) + bytes.MinRead) // read in one buffer, EOF included
	}
	_, err = b.ReadFrom(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, b.Bytes(), err
}
