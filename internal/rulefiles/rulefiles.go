package rulefiles

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

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
		m, err := filepath.Glob(p)
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
	rgs, errs := rulefmt.ParseFile(name, false, NameValidation, Parser, discard)
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
