// Package rulefiles finds and parses Prometheus rule files (the format of Prometheus's
// rule_files) with Prometheus's own model/rulefmt and PromQL parser, for `vigil rules check`,
// `vigil validate` and the alert exporter, and holds Check, the one test of whether vigil's
// streaming alert core can evaluate a rule. Every problem names its file, and its line, group and
// rule where it has one; GroupError marks the problems confined to one group.
package rulefiles
