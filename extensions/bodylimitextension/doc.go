// Package bodylimitextension is an HTTP server middleware for vigil's receivers. The collector's
// HTTP servers cut a request body at the receiver's max_request_body_size and answer a bare
// "request body too large" with status 400; behind this middleware such a request is answered
// 413 Request Entity Too Large with a message that names the limit in bytes and the setting that
// raises it, and it is counted.
package bodylimitextension
