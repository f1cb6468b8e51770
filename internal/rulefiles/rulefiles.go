package rulefiles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	builtin "github.com/vigil-obs/vigil/deploy/rules"
)

// BuiltinPrefix names vigil's built-in rule packs (deploy/rules, embedded in the binary) in
// place of a file: "builtin:capacity.yaml", or "builtin:*.yaml" for all of them.
const BuiltinPrefix = "builtin:"

// Parser is the PromQL parser used for rule files: Prometheus's defaults, no experimental
// functions, so that a rule that vigil accepts is one that Prometheus accepts too.
var Parser = parser.NewParser(parser.Options{})

// NameValidation is the metric and label name validation scheme (Prometheus 3's default).
const NameValidation = model.UTF8Validation

// Expand returns the files that the patterns (file names or globs) match, sorted and without
// duplicates. A pattern that is malformed or matches nothing is an error; every such pattern is
// reported.
func Expand(patterns []string) ([]string, error) {
	var (
		files []string
		errs  []error
	)
	for _, p := range patterns {
		m, err := glob(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("cannot expand rule file pattern %q: %w", p, err))
		case len(m) == 0:
			errs = append(errs, fmt.Errorf("cannot find rule files: %q matches no file", p))
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	return slices.Compact(files), errors.Join(errs...)
}

func glob(pattern string) ([]string, error) {
	name, ok := strings.CutPrefix(pattern, BuiltinPrefix)
	if !ok {
		return filepath.Glob(pattern)
	}
	m, err := fs.Glob(builtin.FS(), name)
	for i := range m {
		m[i] = BuiltinPrefix + m[i]
	}
	return m, err
}

// File is one parsed rule file.
type File struct {
	Name   string
	Groups []rulefmt.RuleGroup
}

// Rules returns the number of rules in the file.
func (f File) Rules() int {
	n := 0
	for _, g := range f.Groups {
		n += len(g.Rules)
	}
	return n
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// GroupError is a problem confined to one group of a rule file: the alert core skips that group
// and loads the file's other groups. Its message is the problem's, with file, line, group and
// rule. Problems that are not GroupErrors concern the whole file (unreadable, not YAML, unknown
// fields, a group without a name or repeated, invalid group labels): no group of it is loaded.
type GroupError struct {
	Group string
	Err   error
}

func (e *GroupError) Error() string { return e.Err.Error() }
func (e *GroupError) Unwrap() error { return e.Err }

// Parse reads and validates one rule file (or built-in pack) with Prometheus's rule file parser,
// and checks every rule with Check. It returns every problem found; each one starts with the
// file name and, for a problem in a rule, names its line, group, the rule's index and its name.
// Unknown fields are errors. File.Groups holds every group that could be read, with or without
// problems (nil if the file could not be read or parsed).
func Parse(name string) (File, []error) {
	b, err := read(name)
	if err != nil {
		return File{Name: name}, []error{err}
	}
	rgs, errs := rulefmt.Parse(b, false, NameValidation, Parser, discard)
	for i, e := range errs {
		errs[i] = fmt.Errorf("%s: %w", name, e)
		var re *rulefmt.Error
		if errors.As(e, &re) {
			errs[i] = &GroupError{Group: re.Group, Err: errs[i]}
		}
	}
	if rgs == nil {
		return File{Name: name}, errs
	}
	return File{Name: name, Groups: rgs.Groups}, append(errs, checkRules(name, b, rgs.Groups)...)
}

// read returns the content of a rule file or built-in pack.
func read(name string) ([]byte, error) {
	pack, ok := strings.CutPrefix(name, BuiltinPrefix)
	if !ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return b, nil
	}
	b, err := fs.ReadFile(builtin.FS(), pack)
	if err != nil {
		return nil, fmt.Errorf("%s: no such built-in rule pack", name)
	}
	return b, nil
}

// checkRules applies Check to every rule whose expression parses (the parser's problems are
// already reported), locating each problem at the rule's expr in content.
func checkRules(name string, content []byte, groups []rulefmt.RuleGroup) []error {
	var nodes struct {
		Groups []struct {
			Rules []struct {
				Expr yaml.Node `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	_ = yaml.Unmarshal(content, &nodes) // rulefmt parsed it: positions are there, or 0:0
	var errs []error
	for gi, g := range groups {
		for ri, r := range g.Rules {
			expr, err := Parser.ParseExpr(r.Expr)
			if err != nil {
				continue
			}
			if err := Check(expr); err != nil {
				line, col := 0, 0
				if gi < len(nodes.Groups) && ri < len(nodes.Groups[gi].Rules) {
					line, col = nodes.Groups[gi].Rules[ri].Expr.Line, nodes.Groups[gi].Rules[ri].Expr.Column
				}
				ruleName := r.Alert
				if ruleName == "" {
					ruleName = r.Record
				}
				errs = append(errs, &GroupError{Group: g.Name, Err: fmt.Errorf("%s: %d:%d: group %q, rule %d, %q: %w",
					name, line, col, g.Name, ri+1, ruleName, err)})
			}
		}
	}
	return errs
}

// Load expands the patterns and parses every file, returning the files and all problems found.
func Load(patterns []string) ([]File, error) {
	names, err := Expand(patterns)
	errs := []error{err}
	files := make([]File, 0, len(names))
	for _, n := range names {
		f, ferrs := Parse(n)
		files = append(files, f)
		errs = append(errs, ferrs...)
	}
	return files, errors.Join(errs...)
}

// Loader is the rules package's GroupLoader for rule files and built-in packs (BuiltinPrefix):
// it loads a file only if Parse finds no problem in it.
type Loader struct{}

// Load reads and validates one rule file or built-in pack.
func (Loader) Load(name string, _ bool, _ model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	f, errs := Parse(name)
	if len(errs) > 0 {
		return nil, errs
	}
	return &rulefmt.RuleGroups{Groups: f.Groups}, nil
}

// Parse parses a PromQL expression with Parser.
func (Loader) Parse(query string) (parser.Expr, error) { return Parser.ParseExpr(query) }
