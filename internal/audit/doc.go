// Package audit is the home of vigil's Kubernetes audit domain: the event's fields that vigil
// indexes and labels (Fields, read from an event's JSON by ParseFields, which never fails), their
// names as log record attributes, and the in-process attestation.
//
// Attestation lets the audit receiver vouch for what it read, so that the exporters after it
// need not read it again. The audit webhook validates every event's JSON and reads its indexed
// fields (auditID, stage, verb, user, objectRef's namespace, resource and name, sourceIPs) into
// log record attributes. The OpenSearch exporter would validate each body again, and the archive
// would parse it again to index it. Instead the receiver attests each record whose fields it read
// as ParseFields reads them (see the receiver's fast path): a keyed hash of the body and of those
// attributes, in the attribute AttrAttestation. An exporter that finds the attestation intact
// knows that the body is the receiver's valid JSON object and that the attributes are its fields.
//
// The key is random for each process: an attestation is checked by the process that made it (the
// exporters check it when the record arrives, before queueing it), and a processor between them
// that changes the body or one of the attributes breaks it, so that the exporter falls back to
// reading the body. It guards against changes, not against an adversary inside the process.
// ("Seal" is the archive's word for its hash chain only.)
//
// Two tools serve every reader of events: the scanner (StringEnd, ValueEnd, Value, EachMember,
// EachElement) walks an event's valid JSON in one pass without copying, and Key/KeyHasher give an
// event's identity a fixed-size, GC-free form for the sets that absorb re-sent events.
//
// The package depends on no storage: receivers, processors and exporters import it without the
// object-storage clients of storage/archive.
package audit
