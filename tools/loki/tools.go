//go:build tools

// Package tools pins the Loki server binary: go build -o BIN github.com/grafana/loki/v3/cmd/loki
package tools

import _ "github.com/grafana/loki/v3/cmd/loki"
