// Package rulestest runs Prometheus rule unit tests, in promtool's test file format (rule_files,
// evaluation_interval, group_eval_order, tests with input_series, alert_rule_test and
// promql_expr_test), with vigil's streaming alert core: `vigil rules test`.
//
// Input series are read with Prometheus's series notation parser and appended to the core in time
// order; the core (alertexporter.Replay) evaluates the rule groups at every evaluation interval,
// keeping only what its rules need, and the alerts of alert_rule_test are its alerts. A rule that
// the core cannot evaluate fails the test groups of its file, naming file, group and rule. The
// expressions of promql_expr_test are evaluated by Prometheus's engine over a full copy of the
// input series and of everything the core's rules wrote (recording rules, ALERTS).
package rulestest
