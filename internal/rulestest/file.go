package rulestest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// File is a rule unit test file, in promtool's format.
type File struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	GroupEvalOrder     []string       `yaml:"group_eval_order"`
	Tests              []TestGroup    `yaml:"tests"`
	FuzzyCompare       bool           `yaml:"fuzzy_compare"`

	name string // the file's name, as given
}

// TestGroup is one entry of tests: input series and what the rules must give.
type TestGroup struct {
	Interval        model.Duration    `yaml:"interval"`
	InputSeries     []InputSeries     `yaml:"input_series"`
	AlertRuleTests  []AlertTest       `yaml:"alert_rule_test"`
	PromqlExprTests []ExprTest        `yaml:"promql_expr_test"`
	ExternalLabels  map[string]string `yaml:"external_labels"`
	ExternalURL     string            `yaml:"external_url"`
	Name            string            `yaml:"name"`
	StartTimestamp  Timestamp         `yaml:"start_timestamp"`
}

// InputSeries is a series and its values in Prometheus's series notation ("1+2x10", "_", "stale").
type InputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// AlertTest lists the alerts that must be firing at EvalTime.
type AlertTest struct {
	EvalTime  model.Duration  `yaml:"eval_time"`
	Alertname string          `yaml:"alertname"`
	ExpAlerts []ExpectedAlert `yaml:"exp_alerts"`
}

// ExpectedAlert is a firing alert: its labels (alertname is added) and annotations.
type ExpectedAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// ExprTest is a PromQL expression and its result at EvalTime.
type ExprTest struct {
	Expr       string           `yaml:"expr"`
	EvalTime   model.Duration   `yaml:"eval_time"`
	ExpSamples []ExpectedSample `yaml:"exp_samples"`
}

// ExpectedSample is one sample of an expression's result; Histogram (series notation), if set,
// replaces Value.
type ExpectedSample struct {
	Labels    string  `yaml:"labels"`
	Value     float64 `yaml:"value"`
	Histogram string  `yaml:"histogram"`
}

// Timestamp is a start_timestamp: RFC 3339 or Unix seconds.
type Timestamp struct{ time.Time }

// UnmarshalYAML reads RFC 3339 or Unix seconds (with a fraction).
func (t *Timestamp) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
			return fmt.Errorf("line %d: start_timestamp: %q is not a time", n.Line, s)
		}
		sec, frac := math.Modf(f)
		t.Time = time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("line %d: start_timestamp: %q is neither RFC 3339 nor Unix seconds", n.Line, s)
	}
	t.Time = v
	return nil
}

// maxTestFileBytes bounds the size of a test file.
const maxTestFileBytes = 64 << 20

// ReadFile reads and checks a test file. Its rule_files are resolved relative to its directory
// (absolute names and builtin: packs are kept) and expanded; a pattern that matches no file is an
// error. Unknown fields are errors, as in promtool.
func ReadFile(name string) (*File, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read rule test file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxTestFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read rule test file %s: %w", name, err)
	}
	if len(b) > maxTestFileBytes {
		return nil, fmt.Errorf("cannot read rule test file %s: larger than %d MiB", name, maxTestFileBytes>>20)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("cannot read rule test file %s: %w", name, err)
	}
	f.name = name
	dir := filepath.Dir(name)
	for i, rf := range f.RuleFiles {
		if rf != "" && !filepath.IsAbs(rf) && !strings.HasPrefix(rf, rulefiles.BuiltinPrefix) {
			f.RuleFiles[i] = filepath.Join(dir, rf)
		}
	}
	files, err := rulefiles.Expand(f.RuleFiles)
	if err != nil {
		return nil, fmt.Errorf("cannot read rule test file %s: rule_files: %w", name, err)
	}
	f.RuleFiles = files
	return f, nil
}

// Parse decodes and checks the content of a test file (its rule_files are not resolved).
func Parse(b []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	if f.EvaluationInterval == 0 {
		f.EvaluationInterval = model.Duration(time.Minute)
	}
	var errs []error
	seen := map[string]bool{}
	for _, g := range f.GroupEvalOrder {
		if seen[g] {
			errs = append(errs, fmt.Errorf("group_eval_order: group %q is repeated", g))
		}
		seen[g] = true
	}
	for i, tg := range f.Tests {
		for j, at := range tg.AlertRuleTests {
			if at.Alertname == "" {
				errs = append(errs, fmt.Errorf("tests[%d] (%s): alert_rule_test[%d] (eval_time %s): alertname must be set",
					i, f.testName(i), j, at.EvalTime))
			}
		}
		for j, et := range tg.PromqlExprTests {
			if strings.TrimSpace(et.Expr) == "" {
				errs = append(errs, fmt.Errorf("tests[%d] (%s): promql_expr_test[%d] (eval_time %s): expr must be set",
					i, f.testName(i), j, et.EvalTime))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &f, nil
}

// testName is the name of test group i, or promtool's name for an unnamed one.
func (f *File) testName(i int) string {
	if n := f.Tests[i].Name; n != "" {
		return n
	}
	return fmt.Sprintf("unnamed#%d", i)
}
