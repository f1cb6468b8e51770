// Package rulefiles finds and parses Prometheus rule files (the format of Prometheus's
// rule_files) with Prometheus's own model/rulefmt and PromQL parser, for `vigil rules check` and
// the alert exporter. Every problem names its file, and its group and rule where it has one.
package rulefiles
