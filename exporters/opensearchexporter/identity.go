package opensearchexporter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/internal/audit"
)

// attrReceivedTime is the audit receiver's attribute of when vigil received the event
// (k8sauditreceiver.AttrReceivedTime), indexed as vigil_received_time.
const attrReceivedTime = "vigil.received_time"

// maxIDBytes is OpenSearch's limit on an _id.
const maxIDBytes = 512

// appendEventID appends the _id of an audit event: "<cluster>:<auditID>:<stage>:<content>", where
// content is 32 hex digits of the SHA-256 of body, the event as received. The (auditID, stage)
// alone does not identify an event — the apiserver takes the auditID from the client's Audit-ID
// header, so two requests can share it — while a replay of the same event (a retry, a re-sent
// batch after a crash) has the same bytes and lands on the same document. An _id longer than
// OpenSearch takes (a long Audit-ID) is the SHA-256 of that text, in hex: still deterministic.
func appendEventID(b []byte, cluster, auditID, stage string, body []byte) []byte {
	start := len(b)
	sum := sha256.Sum256(body)
	b = append(b, cluster...)
	b = append(b, ':')
	b = append(b, auditID...)
	b = append(b, ':')
	b = append(b, stage...)
	b = append(b, ':')
	b = hex.AppendEncode(b, sum[:16])
	if len(b)-start > maxIDBytes {
		long := sha256.Sum256(b[start:])
		b = hex.AppendEncode(b[:start], long[:])
	}
	return b
}

// ownKeys are the top-level fields vigil writes in front of every document. An event's own
// members of these names are left out of its document: OpenSearch refuses a document with a key
// twice, and vigil's values win — the cluster is the one vigil authenticated (never the payload's
// claim), @timestamp the time the document is indexed by, vigil_received_time vigil's receipt.
// The archive keeps the event as it was sent.
var ownKeys = audit.ReservedKeys

// quotedOwnKeys are ownKeys as a member's key ends: quoted.
var quotedOwnKeys = func() (q [len(ownKeys)][]byte) {
	for i, k := range ownKeys {
		q[i] = []byte(`"` + k + `"`)
	}
	return q
}()

// mayHaveOwnKeys is a quick look whether the object src (valid JSON) may have a member of
// ownKeys: a key of one of their names before a colon (at any depth; colons are fewer than
// quotes, so this is one short pass), or a \u escape, with which a key can spell a name. A body
// the audit receiver sealed has none (audit.ReservedKeys): it is not looked at.
func mayHaveOwnKeys(src []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(src[i:], ':')
		if j < 0 {
			break
		}
		end := i + j
		for end > 0 && audit.IsSpace(src[end-1]) {
			end--
		}
		if end > 0 && src[end-1] == '"' {
			for _, k := range quotedOwnKeys {
				if bytes.HasSuffix(src[:end], k) {
					return true
				}
			}
		}
		i += j + 1
	}
	return bytes.Contains(src, []byte(`\u`))
}

// withoutOwnKeys appends the object src (valid JSON, on one line) to dst without its top-level
// members named as one of ownKeys, counting them in dropped.
func withoutOwnKeys(dst, src []byte, dropped *[len(ownKeys)]int) []byte {
	start := len(dst)
	dst = append(dst, '{')
	n := 0
	_, err := audit.EachMember(src, 0, func(key []byte, _, end int) error {
		at := cap(src) - cap(key) - 1 // the key's opening quote
		if i := ownKey(key, src[at:at+len(key)+2]); i >= 0 {
			dropped[i]++
			return nil
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, src[at:end]...)
		n++
		return nil
	})
	if err != nil { // not for valid JSON
		return append(dst[:start], src...)
	}
	return append(dst, '}')
}

// ownKey is the index in ownKeys of the key (its text as written; quoted: with its quotes), or -1.
func ownKey(key, quoted []byte) int {
	name := string(key)
	if bytes.IndexByte(key, '\\') >= 0 {
		if json.Unmarshal(quoted, &name) != nil {
			return -1
		}
	}
	for i, k := range ownKeys {
		if name == k {
			return i
		}
	}
	return -1
}

// countReplaced adds the members left out for vigil's own (withoutOwnKeys) to their counter.
func (e *osExporter) countReplaced(dropped [len(ownKeys)]int) {
	if e.replaced == nil {
		return
	}
	for i, n := range dropped {
		if n > 0 {
			e.replaced.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("field", ownKeys[i])))
		}
	}
}
