package rulefiles

import (
	"fmt"

	"github.com/prometheus/prometheus/promql/parser"
)

// Check reports whether vigil's streaming alert core can evaluate expr. It is the one check
// applied by the core when it loads a rule (storage/series.NeedsOf), by Parse (so by
// `vigil rules check` and `vigil validate`), and nowhere else.
//
// The core keeps, of each series a rule selects, only the window before its newest sample (the
// lookback delta or range, plus offsets and enclosing subqueries), and evaluates with
// Prometheus's engine. It therefore refuses the @ modifier with a fixed time, on a selector or a
// subquery (`x @ 1609746000`, `rate(x[5m] @ 1609746000)`, `max_over_time(x[1h:1m] @ 1609746000)`):
// such a rule reads samples at an arbitrary time, which the core never keeps. `@ start()` and
// `@ end()` are the evaluation time of a rule and are accepted. Everything else that Parser
// accepts is evaluated as Prometheus evaluates it: offsets (negative ones too), subqueries, every
// function of PromQL (Parser refuses the experimental ones, as Prometheus does by default).
func Check(expr parser.Expr) error {
	const fixedAt = "the @ modifier with a fixed time reads outside the streaming window (use @ start() or @ end(), or no @)"
	var err error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if err != nil {
			return err
		}
		switch n := node.(type) {
		case *parser.SubqueryExpr:
			if n.Timestamp != nil {
				err = fmt.Errorf("cannot keep the samples of subquery %s: %s", n, fixedAt)
			}
		case *parser.VectorSelector:
			if n.Timestamp != nil {
				err = fmt.Errorf("cannot keep the samples of %s: %s", n, fixedAt)
			}
		}
		return err
	})
	return err
}
