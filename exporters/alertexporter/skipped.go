package alertexporter

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/storage/series"
)

// A rule file with problems never stops the exporter (nor vigil, whose audit pipelines run in the
// same process): the groups concerned are skipped, reported and the other groups run.
//
//   - A group with problems (a rule that does not parse, a template that does not, a rule the
//     streaming core cannot evaluate: rulefiles.Check) is skipped; the file's other groups load.
//   - A file with problems of its own (unreadable, not YAML, unknown fields, repeated group
//     names) loads no group; a pattern that matches no file loads nothing.
//   - On a reload, a file with problems whose previous version was loaded keeps that version in
//     force, whole and with its alert state (as Prometheus keeps its rules when a reload fails);
//     the other files are reloaded.
//
// Each problem is logged, counted (vigil_alert_rule_groups_skipped) and, for a group that is not
// evaluated at all, shown by /api/v1/rules with health "err" and the problem as lastError.

// skippedGroup is a group, a file or a pattern that was not loaded because of problems.
type skippedGroup struct {
	file  string             // "" for a pattern that matches no file
	group *rulefmt.RuleGroup // the group as read; nil for a problem of the whole file
	errs  []error
	kept  bool // the file's previous version stays in force
}

func (s skippedGroup) name() string {
	if s.group == nil {
		return ""
	}
	return s.group.Name
}

// preparedLoader is the rules manager's GroupLoader: it serves, for each file, the groups that
// load found without problems.
type preparedLoader struct {
	files map[string]*rulefmt.RuleGroups // set by load, under reloadMu
}

func (l *preparedLoader) Load(name string, _ bool, _ model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	if rgs, ok := l.files[name]; ok {
		return rgs, nil
	}
	return nil, []error{fmt.Errorf("%s: not prepared for loading", name)}
}

func (*preparedLoader) Parse(query string) (parser.Expr, error) {
	return rulefiles.Parser.ParseExpr(query)
}

// parseGroups parses one rule file and splits its groups: those without problems, and the
// skipped ones. A problem of the whole file skips it whole.
func parseGroups(file string) (good []rulefmt.RuleGroup, skipped []skippedGroup) {
	f, errs := rulefiles.Parse(file)
	byGroup := map[string][]error{}
	var whole []error
	for _, err := range errs {
		var ge *rulefiles.GroupError
		if errors.As(err, &ge) {
			byGroup[ge.Group] = append(byGroup[ge.Group], err)
		} else {
			whole = append(whole, err)
		}
	}
	if len(whole) > 0 || f.Groups == nil {
		return nil, []skippedGroup{{file: file, errs: errs}}
	}
	for i := range f.Groups {
		g := &f.Groups[i]
		if gerrs := byGroup[g.Name]; len(gerrs) > 0 {
			skipped = append(skipped, skippedGroup{file: file, group: g, errs: gerrs})
			continue
		}
		good = append(good, *g)
	}
	return good, skipped
}

// loadGroups loads the groups of files that have no problems, and returns them by key with the
// skipped ones. Groups of prev (the generation in force, nil at start) stay in force for the files
// with problems that they came from.
func (e *alertExporter) loadGroups(files []string, patternErr error, prev *generation) (map[string]*rules.Group, []skippedGroup) {
	var skipped []skippedGroup
	for _, err := range splitErrors(patternErr) {
		skipped = append(skipped, skippedGroup{errs: []error{err}})
	}
	byKey := map[string]*rules.Group{}
	prepared := map[string]*rulefmt.RuleGroups{}
	e.loader.files = prepared
	for _, file := range files {
		good, bad := parseGroups(file)
		var kept []*rules.Group
		if len(bad) > 0 && prev != nil {
			for _, g := range prev.groups {
				if g.File() == file {
					kept = append(kept, g)
				}
			}
		}
		if len(kept) > 0 {
			for i := range bad {
				bad[i].kept = true
			}
			for _, g := range kept {
				byKey[rules.GroupKey(g.File(), g.Name())] = g
			}
			skipped = append(skipped, bad...)
			continue
		}
		skipped = append(skipped, bad...)
		if len(good) == 0 {
			continue
		}
		prepared[file] = &rulefmt.RuleGroups{Groups: good}
		loaded, errs := e.mgr.LoadGroups(e.cfg.EvaluationInterval, labels.FromMap(e.cfg.ExternalLabels),
			e.cfg.ExternalURL, nil, false, file)
		if len(errs) > 0 { // parsed above: not expected, but never fatal
			skipped = append(skipped, skippedGroup{file: file, errs: errs})
			continue
		}
		for k, g := range loaded {
			if err := e.checkNeeds(g); err != nil {
				skipped = append(skipped, skippedGroup{file: file, group: findGroup(good, g.Name()), errs: []error{err}})
				continue
			}
			byKey[k] = g
		}
	}
	return byKey, skipped
}

// checkNeeds reports the first rule of g whose needs the store cannot serve (rulefiles.Check
// already refused them in parseGroups: this is the same check, at the store).
func (e *alertExporter) checkNeeds(g *rules.Group) error {
	for _, r := range g.Rules() {
		if _, err := series.NeedsOf(r.Query(), e.cfg.LookbackDelta, g.QueryOffset(), 0); err != nil {
			return fmt.Errorf("cannot evaluate rule %q of group %q in %s: %w", r.Name(), g.Name(), g.File(), err)
		}
	}
	return nil
}

func findGroup(groups []rulefmt.RuleGroup, name string) *rulefmt.RuleGroup {
	for i := range groups {
		if groups[i].Name == name {
			return &groups[i]
		}
	}
	return nil
}

// splitErrors returns the errors joined in err (errors.Join), or err alone.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// reportSkipped logs every skipped group, file or pattern.
func (e *alertExporter) reportSkipped(skipped []skippedGroup) {
	for _, s := range skipped {
		msg := "cannot load rule group; it is skipped, the other groups run"
		switch {
		case s.kept:
			msg = "cannot load rule file; its previous version stays in force"
		case s.group == nil:
			msg = "cannot load rule file; its groups are skipped, the other files run"
		}
		e.logger.Warn(msg, zap.String("file", s.file), zap.String("group", s.name()), zap.Errors("problems", s.errs))
	}
}

// apiGroupsOfSkipped shows the skipped groups that are not evaluated at all (no previous version
// in force) as Prometheus shows a rule that fails: health "err", the problems as lastError.
func apiGroupsOfSkipped(skipped []skippedGroup, interval float64, want string) []apiGroup {
	var out []apiGroup
	for _, s := range skipped {
		if s.kept || s.group == nil {
			continue
		}
		ag := apiGroup{Name: s.group.Name, File: s.file, Rules: []apiRule{}, Interval: interval, Limit: s.group.Limit}
		if s.group.Interval != 0 {
			ag.Interval = (time.Duration(s.group.Interval)).Seconds()
		}
		lastError := "not evaluated: " + errors.Join(s.errs...).Error()
		for _, r := range s.group.Rules {
			x := apiRule{Name: r.Record, Query: r.Expr, Labels: labels.FromMap(r.Labels), Health: string(rules.HealthBad),
				LastError: lastError, Type: "recording"}
			if r.Alert != "" {
				x.Name, x.Type, x.State = r.Alert, "alerting", rules.StateInactive.String()
				x.Duration, x.KeepFiringFor = time.Duration(r.For).Seconds(), time.Duration(r.KeepFiringFor).Seconds()
				x.Annotations, x.Alerts = labels.FromMap(r.Annotations), []apiAlert{}
			}
			if (want == "alert" && x.Type != "alerting") || (want == "record" && x.Type != "recording") {
				continue
			}
			ag.Rules = append(ag.Rules, x)
		}
		out = append(out, ag)
	}
	return out
}
