// Package collectorcli is the command line that vigil's binaries share: cmd/vigil (every role) and
// cmd/vigil-agent (the agent alone) differ only in their factories (internal/components), their
// default configuration and their extra subcommands. It holds the collector's command with vigil's
// additions — --data-dir, the embedded role configs (embedded:agent.yaml, ...), Go's memory limit
// from the container's, the health_check feature gate, the start banner, `validate` reporting
// every problem — and the configuration converters (unset optional backends, the API port check).
package collectorcli
