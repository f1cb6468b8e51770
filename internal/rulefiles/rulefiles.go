package rulefiles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

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

// Parse reads and validates one rule file. It returns every problem found; each one starts with
// the file name and, for a problem in a rule, names the group, the rule's index and its name.
// Unknown fields are errors.
func Parse(name string) (File, []error) {
	rgs, errs := Loader{}.Load(name, false, NameValidation)
	if rgs == nil {
		return File{Name: name}, errs
	}
	return File{Name: name, Groups: rgs.Groups}, errs
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

// Loader is the rules package's GroupLoader for rule files and built-in packs (BuiltinPrefix).
type Loader struct{}

// Load reads and validates one rule file or built-in pack.
func (Loader) Load(name string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	pack, ok := strings.CutPrefix(name, BuiltinPrefix)
	if !ok {
		return rulefmt.ParseFile(name, ignoreUnknownFields, scheme, Parser, discard)
	}
	b, err := fs.ReadFile(builtin.FS(), pack)
	if err != nil {
		return nil, []error{fmt.Errorf("%s: no such built-in rule pack", name)}
	}
	rgs, errs := rulefmt.Parse(b, ignoreUnknownFields, scheme, Parser, discard)
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", name, errs[i])
	}
	return rgs, errs
}

// Parse parses a PromQL expression with Parser.
func (Loader) Parse(query string) (parser.Expr, error) { return Parser.ParseExpr(query) }
