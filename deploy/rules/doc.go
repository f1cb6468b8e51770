// Package rules holds vigil's built-in Prometheus rule packs (replication lag, capacity) as YAML
// files, embedded so that the all-in-one role can run them without files on disk. The YAML files
// are ordinary Prometheus rule files: `vigil rules check deploy/rules/*.yaml` and
// `promtool check rules` accept them.
package rules
