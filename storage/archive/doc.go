// Package archive is the tamper-evident archive format: objects of zstd-compressed NDJSON audit
// events, named deterministically per tenant, cluster and hour, each recorded in a manifest entry
// that chains its SHA-256 to the entry before it; a filesystem bucket that makes every object
// complete or absent; and Verify, which finds every modified, missing, reordered or inserted
// object. The format is described in storage/docs/archive-format.md.
package archive
