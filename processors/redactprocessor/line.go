package redactprocessor

import (
	"strings"
)

// LineRedactor applies the redaction rules to a log line that is not a record of the k8saudit
// receiver: an application's or a controller's line that may print a Kubernetes object, an
// audit event, or a sensitive field of one. It is what the evidence index (extensions/
// evidenceextension) uses so that the log lines an alert carries are redacted by the same rules
// as audit data. It is safe for concurrent use.
//
// A line that names none of the rules' fields as a key ("data":, data=, data: for the default
// rules' data, stringData and token) is returned as it is. Otherwise:
//
//   - a JSON audit event (objectRef.resource) of a resource a rule names is redacted as the
//     processor redacts it;
//   - a JSON Kubernetes object (kind and apiVersion; a List of them) whose kind is a rule's
//     resource (Secret -> secrets, TokenReview -> tokenreviews, TokenRequest ->
//     serviceaccounts/token) is redacted as a request object of such an event;
//   - any other line that also names a rule's resource (the words "secret", "tokenreview",
//     "serviceaccount", "token", ...) is withheld whole (fail closed): the redactor cannot tell
//     where in it a sensitive value would be. So is a line whose redaction fails.
type LineRedactor struct {
	match matcher
	keys  []string // the last segment of every rule field, lower case
	words []string // the resource (singular) and subresource names of every rule, lower case
}

// Withheld is the text of a line that LineRedactor withheld.
const Withheld = "[line withheld by vigil: it may carry a field the redaction rules remove]"

// DefaultRules returns the redact processor's default rules (a copy).
func DefaultRules() []Rule { return createDefaultConfig().Rules }

// NewLineRedactor returns a LineRedactor for rules (validated by Config.Validate).
func NewLineRedactor(rules []Rule) *LineRedactor {
	r := &LineRedactor{match: newMatcher(rules)}
	seen := map[string]bool{}
	add := func(list *[]string, w string) {
		w = strings.ToLower(w)
		if w != "" && !seen[w] {
			seen[w] = true
			*list = append(*list, w)
		}
	}
	for _, rule := range rules {
		for _, f := range rule.Fields {
			add(&r.keys, f[strings.LastIndexByte(f, '.')+1:])
		}
	}
	clear(seen)
	for _, rule := range rules {
		for _, res := range rule.Resources {
			name, sub, _ := strings.Cut(res, "/")
			add(&r.words, strings.TrimSuffix(name, "s"))
			add(&r.words, sub)
		}
	}
	return r
}

// Redact returns the line with what the rules remove removed, and whether it changed.
func (r *LineRedactor) Redact(line string) (string, bool) {
	lower := strings.ToLower(line)
	if !r.namesKey(lower) {
		return line, false
	}
	if v, err := decodeJSON(line); err == nil {
		if m, ok := v.(map[string]any); ok {
			if out, ok := r.structured(m); ok {
				return out, out != line
			}
		}
	}
	for _, w := range r.words {
		if strings.Contains(lower, w) {
			return Withheld, true
		}
	}
	return line, false
}

// namesKey reports whether the (lower-case) line has a rule field as a key: the name followed,
// after an optional closing quote and spaces, by ':' or '='.
func (r *LineRedactor) namesKey(lower string) bool {
	for _, k := range r.keys {
		for i := 0; i < len(lower); {
			j := strings.Index(lower[i:], k)
			if j < 0 {
				break
			}
			end := i + j + len(k)
			i = end
			rest := strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(lower[end:], `\"`), `"`), " ")
			if rest != "" && (rest[0] == ':' || rest[0] == '=') {
				return true
			}
		}
	}
	return false
}

// structured redacts a JSON audit event or Kubernetes object. ok is false when m is neither, or
// is one of a resource no rule names (then the caller decides).
func (r *LineRedactor) structured(m map[string]any) (string, bool) {
	if ref, isEvent := m["objectRef"].(map[string]any); isEvent {
		res, _ := ref["resource"].(string)
		sub, _ := ref["subresource"].(string)
		group, _ := ref["apiGroup"].(string)
		fields := r.match.fields(res, sub, group)
		if len(fields) == 0 {
			return "", false
		}
		out := redactEvent(m, fields)
		if len(out.gone) > 0 {
			return Withheld, true
		}
		return out.body, true
	}
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	if kind == "" || apiVersion == "" {
		return "", false
	}
	group, _, hasGroup := strings.Cut(apiVersion, "/")
	if !hasGroup {
		group = "" // "v1": the core group
	}
	res, sub := resourceOfKind(strings.TrimSuffix(kind, "List"))
	if sub != "" {
		group = "" // a subresource's group is its resource's (TokenRequest: serviceaccounts, core)
	}
	fields := r.match.fields(res, sub, group)
	if len(fields) == 0 {
		return "", false
	}
	p := newPass(fields)
	p.root(m, false)
	if p.err != nil {
		return Withheld, true
	}
	body := encodeJSON(m)
	if p.leaks(body) {
		return Withheld, true
	}
	return body, true
}

// resourceOfKind is the resource (and subresource) of a kind: lower case, plural; TokenRequest is
// the token subresource of serviceaccounts.
func resourceOfKind(kind string) (resource, subresource string) {
	if kind == "TokenRequest" {
		return "serviceaccounts", "token"
	}
	k := strings.ToLower(kind)
	switch {
	case strings.HasSuffix(k, "s"):
		return k + "es", ""
	case strings.HasSuffix(k, "y"):
		return strings.TrimSuffix(k, "y") + "ies", ""
	}
	return k + "s", ""
}
