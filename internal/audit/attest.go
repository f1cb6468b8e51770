package audit

import (
	"encoding/binary"
	"hash/maphash"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Attribute names: the attestation, and the attributes of the fields it covers (the receiver's).
const (
	AttrAttestation = "vigil.audit.attestation"
	AttrAuditID     = "k8s.audit.id"
	AttrStage       = "k8s.audit.stage"
	AttrVerb        = "k8s.audit.verb"
	AttrUsername    = "k8s.audit.user.username"
	AttrSourceIPs   = "k8s.audit.source_ips"
	AttrResource    = "k8s.audit.object.resource"
	AttrNamespace   = "k8s.audit.object.namespace"
	AttrName        = "k8s.audit.object.name"
)

// ReservedKeys are the top-level keys the exporters write into the documents they make of an
// event (the OpenSearch exporter: before the event's members). An attestation also vouches that
// the body has no top-level member of these names: the receiver does not attest such an event,
// so that an exporter looks for them only in bodies without an intact attestation.
var ReservedKeys = [...]string{"@timestamp", "cluster", "vigil_received_time"}

var seed = maphash.MakeSeed()

// Attestation is the attestation of an event's JSON text and its fields (f.Time is not covered): the keyed hash
// of the body's keyed hash followed by the fields, each after its length. Two one-shot hashes:
// maphash's streaming Hash is several times slower on long bodies.
func Attestation(body string, f *Fields) int64 { return AttestationOf(BodySum(body), f) }

// BodySum is the keyed hash of a body that Attestation starts from: 64 bits, seeded at random per
// process. The receiver takes it also as the fingerprint of an event's content for its
// deduplication, so that the body is hashed once.
func BodySum(body string) uint64 { return maphash.String(seed, body) }

// AttestationOf is Attestation of the body whose BodySum is bodySum.
func AttestationOf(bodySum uint64, f *Fields) int64 {
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

// Attested returns the fields of an attested record whose attestation is intact; ok is false for
// a record without one or with a broken one. The strings are the attributes' (the caller copies what
// it keeps).
func Attested(lr plog.LogRecord) (f Fields, ok bool) {
	if lr.Body().Type() != pcommon.ValueTypeStr {
		return Fields{}, false
	}
	var att int64
	var attested, bad bool
	str := func(v pcommon.Value, dst *string) {
		if v.Type() != pcommon.ValueTypeStr {
			bad = true
			return
		}
		*dst = v.Str()
	}
	for k, v := range lr.Attributes().All() {
		switch k {
		case AttrAttestation:
			att, attested = v.Int(), v.Type() == pcommon.ValueTypeInt
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
	if !attested || bad || Attestation(lr.Body().Str(), &f) != att {
		return Fields{}, false
	}
	return f, true
}

// IsAttested reports whether lr has an attestation and it is intact.
func IsAttested(lr plog.LogRecord) bool {
	_, ok := Attested(lr)
	return ok
}
