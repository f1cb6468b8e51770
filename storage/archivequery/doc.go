// Package archivequery answers LogQL log queries over the audit archive (storage/archive): stream
// selectors over the labels vigil derives from each audit event, then Loki's own log pipeline
// (line filters, parsers such as `| json`, label filters, `line_format`). It reads only the objects
// whose manifest time range — and, where an object has one, whose index — can match.
package archivequery
