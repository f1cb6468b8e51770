// Package testlines holds audit event lines for tests of the audit parser and of what is built
// on it (the archive's index): lines on which a reader could go wrong. It imports nothing, so
// that tests of internal/audit and of storage/archive both can use it.
package testlines

// OddLines are audit event lines on which audit.ParseFields's two readers could part: duplicate keys, wrong types, escaped
// keys, trailing and missing bytes.
var OddLines = []string{
	` { "stage" : "x" , "objectRef" : { "name" : "a" } , "objectRef" : { "name" : "b" , "namespace" : "c" } , "stage" : "y" } `,
	`{"stage":5,"stage":"late","verb":null,"user":"u","objectRef":[{"name":"in-array"}],"sourceIPs":"1.2.3.4"}`,
	`{"st\u0061ge":"escaped key","verb":"v"}`, `{"user":{"username":1,"username":"second"}}`,
	`{"sourceIPs":["a"],"sourceIPs":["b"]}`, `{"stageTimestamp":"bad","stageTimestamp":"2026-11-22T10:00:00Z","requestReceivedTimestamp":"2026-11-22T09:00:00Z"}`,
	`{"stage":"x"}{"verb":"y"}`, `{"stage":"x"} x`, `{"stage":"x"`, `{"stage":"x",}`, `{ }`, " {\n}\t", `{"stage":"x"}}`,
	`{"stage":"x" "verb":"y"}`, `{"stage":"x","verb"}`, `{"objectRef":{"name":"a"`, `{"a":{"b":"c"}, "stage":"x"}`,
	`{"user":{"username":"u"},"user":{"username":"v"}}`, `{"verb":"\u0041\"b"}`, `{"verb":"bad \x escape"}`,
}
