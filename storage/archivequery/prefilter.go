package archivequery

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/grafana/loki/v3/pkg/logql/log"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/prometheus/prometheus/model/labels"
)

// prefilter rejects, on the raw event and before anything is parsed, lines that the pipeline
// would reject anyway. It only ever saves work: the pipeline runs in full on what passes.
type prefilter struct {
	// lines are the line filters that open the pipeline, before any stage that can change the
	// line or the labels; they do not depend on labels.
	lines []log.Filterer
	// literals are values that label filters right after a plain `| json` require, for labels
	// whose value comes from the event itself: such a value, when JSON needs no escape for it,
	// is in the raw line as is — unless the line uses \u or \/ escapes (then it is not used).
	literals [][]byte
	// spaced: a literal holds a space, which Loki also reads where the line has invalid UTF-8
	// or U+FFFD (it writes those as spaces): such lines step aside too.
	spaced bool
	// json rejects lines whose label filters right after a plain `| json` cannot hold, reading
	// only the fields they name (jsonfilter.go); nil when they cannot reject anything.
	json *jsonFilter
}

// streamOnly are labels whose values do not come from the event's JSON.
var streamOnly = map[string]bool{LabelCluster: true, LabelTenant: true}

func newPrefilter(sel syntax.LogSelectorExpr) (prefilter, error) {
	var p prefilter
	pe, ok := sel.(*syntax.PipelineExpr)
	if !ok {
		return p, nil
	}
	stages := pe.MultiStages
	for len(stages) > 0 {
		lf, ok := stages[0].(*syntax.LineFilterExpr)
		if !ok {
			break
		}
		f, err := lf.Filter()
		if err != nil {
			return p, fmt.Errorf("cannot build the line filter %s: %w", lf.String(), err)
		}
		p.lines = append(p.lines, f)
		stages = stages[1:]
	}
	if len(stages) == 0 {
		return p, nil
	}
	if parser, ok := stages[0].(*syntax.LineParserExpr); !ok || parser.Op != syntax.OpParserTypeJSON || parser.Param != "" {
		return p, nil
	}
	for _, st := range stages[1:] {
		lf, ok := st.(*syntax.LabelFilterExpr)
		if !ok {
			break
		}
		p.literals = append(p.literals, requiredLiterals(lf.LabelFilterer)...)
	}
	for _, lit := range p.literals {
		p.spaced = p.spaced || bytes.IndexByte(lit, ' ') >= 0
	}
	p.json = newJSONFilter(stages[1:])
	return p, nil
}

// requiredLiterals returns the values an AND of equality label filters requires.
func requiredLiterals(f log.LabelFilterer) [][]byte {
	var m *labels.Matcher
	switch f := f.(type) {
	case *log.BinaryLabelFilter:
		if !f.And {
			return nil
		}
		return append(requiredLiterals(f.Left), requiredLiterals(f.Right)...)
	case *log.StringLabelFilter:
		m = f.Matcher
	case *log.LineFilterLabelFilter:
		m = f.Matcher
	default:
		return nil
	}
	if m.Type != labels.MatchEqual || m.Value == "" || streamOnly[m.Name] || strings.HasPrefix(m.Name, "__") || needsEscape(m.Value) {
		return nil
	}
	return [][]byte{[]byte(m.Value)}
}

// needsEscape reports whether JSON can only write s with escapes.
func needsEscape(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == '"' || r == '\\' || r == '/' || r > 0x7e {
			return true
		}
	}
	return false
}

var (
	unicodeEscape = []byte(`\u`)
	slashEscape   = []byte(`\/`)
	replacement   = []byte(string(utf8.RuneError))
)

// literalsApply reports whether the required literals are in line as is when they are in the
// event's values.
func (p prefilter) literalsApply(line []byte) bool {
	if len(p.literals) == 0 || bytes.Contains(line, unicodeEscape) || bytes.Contains(line, slashEscape) {
		return false
	}
	return !p.spaced || (utf8.Valid(line) && !bytes.Contains(line, replacement))
}

func (p prefilter) passes(line []byte) bool {
	for _, f := range p.lines {
		if !f.Filter(line) {
			return false
		}
	}
	if p.literalsApply(line) {
		for _, lit := range p.literals {
			if !bytes.Contains(line, lit) {
				return false
			}
		}
	}
	return p.json == nil || p.json.passes(line)
}
