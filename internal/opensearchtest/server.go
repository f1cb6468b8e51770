// Package opensearchtest is an in-memory HTTP server that answers the parts of the OpenSearch
// REST API vigil uses exactly as OpenSearch documents them — bulk (items with their own status
// inside a 200, "errors": true), index templates, ISM policies, documents — and can be told to
// fail the way a real cluster fails: 429 and 5xx for a whole request, 413 for a body over
// http.max_content_length, per-item rejections (429 es_rejected_execution_exception, 400
// mapper_parsing_exception) and a cluster block (403 cluster_block_exception, flood stage).
package opensearchtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/vigil-obs/vigil/internal/audit"
)

// ItemFault decides the outcome of one bulk item: return 0 to index it, or an HTTP status and
// an OpenSearch error type to fail it.
type ItemFault func(index, id string, doc []byte) (status int, errType string)

// Server is the stand-in. Its fields may be changed between requests (guarded by Mu).
type Server struct {
	URL string

	Mu sync.Mutex
	// RequestFault, when it returns non-zero, answers the whole request with that status.
	RequestFault func(r *http.Request) int
	// ItemFault applies to every bulk item.
	ItemFault ItemFault
	// MaxContentLength answers 413 to larger bodies (OpenSearch http.max_content_length); 0: none.
	MaxContentLength int
	// ReadOnly makes every write fail with the flood-stage cluster block.
	ReadOnly bool
	// Discard counts indexed documents in Indexed without keeping them (benchmarks).
	Discard bool
	Indexed int
	// IDs, when not nil, counts every document indexed by its _id (in Discard mode too), for
	// harnesses that check each document landed once.
	IDs map[string]int

	Docs      map[string]map[string][]byte // index -> _id -> source
	Templates map[string][]byte
	Policies  map[string][]byte
	Bulks     int // bulk requests answered 200
}

// Start runs the stand-in on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, stop := Serve()
	t.Cleanup(stop)
	return s
}

// Serve runs the stand-in on 127.0.0.1 (for harnesses outside tests); stop shuts it down.
func Serve() (*Server, func()) {
	s := &Server{Docs: map[string]map[string][]byte{}, Templates: map[string][]byte{}, Policies: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = srv.URL
	return s, srv.Close
}

// Doc returns a stored document source, nil when absent.
func (s *Server) Doc(index, id string) []byte {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.Docs[index][id]
}

// DocsWithIDPrefix returns the stored document sources of index whose _id starts with prefix
// (e.g. the "<cluster>:<auditID>:<stage>:" of vigil's audit documents, whose _id ends in a hash
// of the event).
func (s *Server) DocsWithIDPrefix(index, prefix string) [][]byte {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	var out [][]byte
	for id, doc := range s.Docs[index] {
		if strings.HasPrefix(id, prefix) {
			out = append(out, doc)
		}
	}
	return out
}

// Count is the number of documents in all indices.
func (s *Server) Count() int {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	n := 0
	for _, docs := range s.Docs {
		n += len(docs)
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is OpenSearch's error envelope.
func errorBody(status int, typ, reason string) map[string]any {
	cause := map[string]any{"type": typ, "reason": reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason}, "status": status}
}

const floodStage = "index [%s] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if s.MaxContentLength > 0 && len(body) > s.MaxContentLength {
		w.WriteHeader(http.StatusRequestEntityTooLarge) // OpenSearch answers 413 with an empty body
		return
	}
	if s.RequestFault != nil {
		if status := s.RequestFault(r); status != 0 {
			typ := "es_rejected_execution_exception"
			if status >= 500 {
				typ = "cluster_manager_not_discovered_exception"
			}
			writeJSON(w, status, errorBody(status, typ, "injected by the test"))
			return
		}
	}
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	switch {
	case r.Method == http.MethodGet && path == "":
		writeJSON(w, 200, map[string]any{"name": "stand-in", "cluster_name": "vigil-test",
			"version": map[string]any{"distribution": "opensearch", "number": "2.19.0"}, "tagline": "The OpenSearch Project: https://opensearch.org/"})
	case r.Method == http.MethodPost && (path == "_bulk" || strings.HasSuffix(path, "/_bulk")):
		s.bulk(w, body)
	case r.Method == http.MethodPut && len(parts) == 2 && parts[0] == "_index_template":
		if !json.Valid(body) {
			writeJSON(w, 400, errorBody(400, "parse_exception", "request body is required"))
			return
		}
		s.Templates[parts[1]] = body
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case len(parts) == 4 && parts[0] == "_plugins" && parts[1] == "_ism" && parts[2] == "policies":
		s.policy(w, r, parts[3], body)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "_doc":
		doc, ok := s.Docs[parts[0]][parts[2]]
		if !ok {
			writeJSON(w, 404, map[string]any{"_index": parts[0], "_id": parts[2], "found": false})
			return
		}
		writeJSON(w, 200, map[string]any{"_index": parts[0], "_id": parts[2], "found": true, "_source": json.RawMessage(doc)})
	default:
		writeJSON(w, 400, errorBody(400, "illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, r.Method)))
	}
}

func (s *Server) policy(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	switch r.Method {
	case http.MethodGet:
		p, ok := s.Policies[id]
		if !ok {
			writeJSON(w, 404, errorBody(404, "status_exception", "Policy not found"))
			return
		}
		writeJSON(w, 200, map[string]any{"_id": id, "_version": 1, "_seq_no": 0, "_primary_term": 1, "policy": json.RawMessage(p)})
	case http.MethodPut:
		if _, exists := s.Policies[id]; exists && r.URL.Query().Get("if_seq_no") == "" {
			writeJSON(w, 409, errorBody(409, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", id)))
			return
		}
		var p struct {
			Policy json.RawMessage `json:"policy"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Policy == nil {
			writeJSON(w, 400, errorBody(400, "illegal_argument_exception", "Required [policy]"))
			return
		}
		s.Policies[id] = p.Policy
		writeJSON(w, 201, map[string]any{"_id": id, "_version": 1, "_primary_term": 1, "_seq_no": 0, "policy": p})
	default:
		writeJSON(w, 405, errorBody(405, "method_not_allowed", "Incorrect HTTP method"))
	}
}

func (s *Server) bulk(w http.ResponseWriter, body []byte) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var items []map[string]any
	hasErrors := false
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || len(action) != 1 {
			writeJSON(w, 400, errorBody(400, "illegal_argument_exception", "Malformed action/metadata line [1], expected START_OBJECT"))
			return
		}
		var op string
		for k := range action {
			op = k
		}
		meta := action[op]
		if !sc.Scan() {
			writeJSON(w, 400, errorBody(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"))
			return
		}
		doc := sc.Bytes() // cloned below when kept
		if s.ItemFault != nil || !s.Discard {
			doc = bytes.Clone(doc)
		}
		item := map[string]any{"_index": meta.Index, "_id": meta.ID}
		status, errType := 0, ""
		switch {
		case s.ReadOnly:
			status, errType = 429, "cluster_block_exception"
		case s.ItemFault != nil:
			status, errType = s.ItemFault(meta.Index, meta.ID, doc)
		}
		if status == 0 && !gojson.Valid(doc) { // what encoding/json.Valid says, faster: the benchmarks share the cores
			status, errType = 400, "mapper_parsing_exception"
		}
		if status == 0 && !s.Discard && duplicateKey(doc) != "" { // OpenSearch: "Duplicate field '...'"
			status, errType = 400, "mapper_parsing_exception"
		}
		if status != 0 {
			hasErrors = true
			reason := "injected by the test"
			if errType == "cluster_block_exception" {
				reason = fmt.Sprintf(floodStage, meta.Index)
			}
			item["status"] = status
			item["error"] = map[string]any{"type": errType, "reason": reason, "index": meta.Index}
		} else if s.Discard {
			s.Indexed++
			if s.IDs != nil {
				s.IDs[meta.ID]++
			}
			item["_version"], item["result"], item["status"] = 1, "created", 201
		} else {
			if s.Docs[meta.Index] == nil {
				s.Docs[meta.Index] = map[string][]byte{}
			}
			_, existed := s.Docs[meta.Index][meta.ID]
			s.Docs[meta.Index][meta.ID] = doc
			item["_version"], item["result"], item["status"] = 1, "created", 201
			if existed {
				item["_version"], item["result"], item["status"] = 2, "updated", 200
			}
			item["_shards"] = map[string]int{"total": 2, "successful": 1, "failed": 0}
		}
		items = append(items, map[string]any{op: item})
	}
	s.Bulks++
	writeJSON(w, 200, map[string]any{"took": 3, "errors": hasErrors, "items": items})
}

// duplicateKey is a top-level key that the document (valid JSON) has twice, "" when none: OpenSearch
// refuses such a document (mapper_parsing_exception, caused by "Duplicate field").
func duplicateKey(doc []byte) string {
	if len(doc) == 0 || doc[0] != '{' {
		return ""
	}
	seen := map[string]bool{}
	dup := ""
	_, _ = audit.EachMember(doc, 0, func(key []byte, _, _ int) error {
		k := string(key)
		if bytes.IndexByte(key, '\\') >= 0 {
			_ = json.Unmarshal([]byte(`"`+k+`"`), &k)
		}
		if seen[k] && dup == "" {
			dup = k
		}
		seen[k] = true
		return nil
	})
	return dup
}
