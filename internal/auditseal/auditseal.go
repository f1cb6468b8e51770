// Package auditseal lets the audit receiver vouch for what it read, so that the exporters after
// it need not read it again.
//
// The audit webhook validates every event's JSON and reads its indexed fields (auditID, stage,
// verb, user, objectRef's namespace, resource and name, sourceIPs) into log record attributes.
// The OpenSearch exporter would validate each body again, and the archive would parse it again
// to index it. Instead the receiver seals each record whose fields it read as the archive reads
// them (storage/archive.ParseEventFields: see the receiver's fast path): a keyed hash of the body
// and of those attributes, in the attribute Attr. An exporter that finds the seal intact knows
// that the body is the receiver's valid JSON object and that the attributes are its fields.
//
// The key is random for each process: a seal is checked by the process that made it (the
// exporters check it when the record arrives, before queueing it), and a processor between them
// that changes the body or one of the attributes breaks it, so that the exporter falls back to
// reading the body. It guards against changes, not against an adversary inside the process.
package auditseal

import (
	"encoding/binary"
	"hash/maphash"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/storage/archive"
)

// Attribute names: the seal, and the attributes of the fields it covers (the receiver's).
const (
	Attr          = "vigil.audit.seal"
	AttrAuditID   = "k8s.audit.id"
	AttrStage     = "k8s.audit.stage"
	AttrVerb      = "k8s.audit.verb"
	AttrUsername  = "k8s.audit.user.username"
	AttrSourceIPs = "k8s.audit.source_ips"
	AttrResource  = "k8s.audit.object.resource"
	AttrNamespace = "k8s.audit.object.namespace"
	AttrName      = "k8s.audit.object.name"
)

// ReservedKeys are the top-level keys the exporters write into the documents they make of an
// event (the OpenSearch exporter: before the event's members). A seal also vouches that the body
// has no top-level member of these names: the receiver does not seal such an event, so that an
// exporter looks for them only in bodies without an intact seal.
var ReservedKeys = [...]string{"@timestamp", "cluster", "vigil_received_time"}

var seed = maphash.MakeSeed()

// Sum is the seal of an event's JSON text and its fields (f.Time is not covered): the keyed hash
// of the body's keyed hash followed by the fields, each after its length. Two one-shot hashes:
// maphash's streaming Hash is several times slower on long bodies.
func Sum(body string, f *archive.EventFields) int64 { return SumOf(BodySum(body), f) }

// BodySum is the keyed hash of a body that Sum starts from: 64 bits, seeded at random per
// process. The receiver takes it also as the fingerprint of an event's content for its
// deduplication, so that the body is hashed once.
func BodySum(body string) uint64 { return maphash.String(seed, body) }

// SumOf is Sum of the body whose BodySum is bodySum.
func SumOf(bodySum uint64, f *archive.EventFields) int64 {
	var stack [512]byte
	b := binary.LittleEndian.AppendUint64(stack[:0], bodySum)
	str := func(s string) {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, s := range [...]string{f.AuditID, f.Stage, f.Verb, f.User, f.Namespace, f.Resource, f.Name} {
		str(s)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(f.SourceIPs)))
	for _, ip := range f.SourceIPs {
		str(ip)
	}
	return int64(maphash.Bytes(seed, b))
}

// Check returns the fields of a sealed record whose seal is intact; ok is false for a record
// without a seal or with a broken one. The strings are the attributes' (the caller copies what
// it keeps).
func Check(lr plog.LogRecord) (f archive.EventFields, ok bool) {
	if lr.Body().Type() != pcommon.ValueTypeStr {
		return archive.EventFields{}, false
	}
	var seal int64
	var sealed, bad bool
	str := func(v pcommon.Value, dst *string) {
		if v.Type() != pcommon.ValueTypeStr {
			bad = true
			return
		}
		*dst = v.Str()
	}
	for k, v := range lr.Attributes().All() {
		switch k {
		case Attr:
			seal, sealed = v.Int(), v.Type() == pcommon.ValueTypeInt
		case AttrAuditID:
			str(v, &f.AuditID)
		case AttrStage:
			str(v, &f.Stage)
		case AttrVerb:
			str(v, &f.Verb)
		case AttrUsername:
			str(v, &f.User)
		case AttrResource:
			str(v, &f.Resource)
		case AttrNamespace:
			str(v, &f.Namespace)
		case AttrName:
			str(v, &f.Name)
		case AttrSourceIPs:
			if v.Type() != pcommon.ValueTypeSlice {
				bad = true
				continue
			}
			s := v.Slice()
			f.SourceIPs = make([]string, s.Len())
			for i := range s.Len() {
				str(s.At(i), &f.SourceIPs[i])
			}
		}
	}
	if !sealed || bad || Sum(lr.Body().Str(), &f) != seal {
		return archive.EventFields{}, false
	}
	return f, true
}

// Intact reports whether lr has a seal and the seal is intact.
func Intact(lr plog.LogRecord) bool {
	_, ok := Check(lr)
	return ok
}
