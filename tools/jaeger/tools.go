//go:build tools

// Package tools pins the Jaeger server binary (v2, collector-based, all-in-one by default):
// go build -o BIN github.com/jaegertracing/jaeger/cmd/jaeger
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
