package redconnector

import (
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// adjuster turns a span's W3C tracestate into the number of spans it stands for: 1, or for a
// span sampled with an OpenTelemetry threshold (ot=th:...), the inverse of its sampling
// probability, rounded stochastically (as the spanmetrics connector does). The last tracestate
// is cached: the spans of a trace share it. Not safe for concurrent use.
type adjuster struct {
	last  string
	count uint64
	rng   uint64 // xorshift64* state, never 0
}

func (a *adjuster) adjusted(ts string) uint64 {
	if ts == "" {
		return 1
	}
	if ts == a.last && a.last != "" {
		return a.roundCached()
	}
	a.last, a.count = strings.Clone(ts), 0 // count 0: 1, no threshold
	if !strings.Contains(ts, "ot=") {
		return 1
	}
	w3c, err := sampling.NewW3CTraceState(ts)
	if err != nil {
		return 1
	}
	th, ok := w3c.OTelValue().TValueThreshold()
	if !ok {
		return 1
	}
	den := sampling.MaxAdjustedCount - th.Unsigned()
	if den == 0 {
		return 1
	}
	a.count = den
	return a.roundCached()
}

// roundCached divides MaxAdjustedCount by the cached denominator, rounding up with the
// probability of the remainder.
func (a *adjuster) roundCached() uint64 {
	den := a.count
	if den == 0 {
		return 1
	}
	q, r := sampling.MaxAdjustedCount/den, sampling.MaxAdjustedCount%den
	if r != 0 && a.next()%den < r {
		q++
	}
	return q
}

func (a *adjuster) next() uint64 {
	x := a.rng
	x ^= x << 12
	x ^= x >> 25
	x ^= x << 27
	a.rng = x
	return x * 0x2545F4914F6CDD1D
}
