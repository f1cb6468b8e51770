package alertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"go.uber.org/zap"
)

// A gateway that takes over another's series (the agent moves a node's metrics to the next
// replica when its gateway dies) never saw them: a rule with `for` would start its timer afresh
// there, and the alert that fired on the dead gateway would leave Alertmanager at its endsAt and
// page again once `for` had passed. Prometheus restores `for` from its own TSDB after a restart;
// replicas share no TSDB, but they share the Alertmanagers, which hold every firing alert with
// the time it started firing. So an alert that becomes pending here and is active there starts
// as active since then, and fires at the next evaluation: Alertmanager merges it into the alert
// it holds (same labels) and notifies nobody again.

// amAlert is what GET /api/v2/alerts gives of an alert that takeover needs.
type amAlert struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
}

// takeover looks alerts up in the Alertmanagers.
type takeover struct {
	bases  []string // base URLs, without a trailing slash
	ext    labels.Labels
	client *http.Client
	logger *zap.Logger

	inflight sync.Map // *rules.AlertingRule: a lookup of its alerts is under way
	wg       sync.WaitGroup
}

func newTakeover(cfg *Config, logger *zap.Logger) *takeover {
	if !cfg.TakeOverFiring || len(cfg.Alertmanagers) == 0 {
		return nil
	}
	t := &takeover{ext: labels.FromMap(cfg.ExternalLabels), client: &http.Client{Timeout: 2 * time.Second}, logger: logger}
	for _, s := range cfg.Alertmanagers {
		t.bases = append(t.bases, strings.TrimSuffix(s, "/"))
	}
	return t
}

// adopt is called after each evaluation of g at ts. For each rule with `for` that has alerts
// that became pending in that evaluation, it looks the rule's alerts up at the Alertmanagers off
// the evaluation's path (one lookup per rule at a time) and gives every alert of the rule still
// pending since ts or later that is active there that alert's start (less `for`) as its own
// activity, if earlier; then wake has the group evaluated again, so that the alert fires.
func (t *takeover) adopt(ctx context.Context, g *rules.Group, ts time.Time, wake func()) {
	if t == nil {
		return
	}
	for _, r := range g.AlertingRules() {
		hold := r.HoldDuration()
		if hold <= 0 || !newlyPending(r, ts) {
			continue
		}
		if _, busy := t.inflight.LoadOrStore(r, struct{}{}); busy {
			continue // the lookup under way sees this evaluation's alerts too
		}
		t.wg.Go(func() {
			defer t.inflight.Delete(r)
			if t.adoptRule(ctx, r, hold, ts) {
				wake()
			}
		})
	}
}

// newlyPending tells whether r has an alert that became pending at ts.
func newlyPending(r *rules.AlertingRule, ts time.Time) bool {
	fresh := false
	r.ForEachActiveAlert(func(a *rules.Alert) {
		fresh = fresh || (a.State == rules.StatePending && a.ActiveAt.Equal(ts))
	})
	return fresh
}

// adoptRule looks r's alerts up and takes over those active at an Alertmanager; it tells whether
// it took one over.
func (t *takeover) adoptRule(ctx context.Context, r *rules.AlertingRule, hold time.Duration, ts time.Time) bool {
	started, err := t.firing(ctx, r.Name())
	if err != nil {
		if ctx.Err() == nil {
			t.logger.Warn("cannot look up firing alerts at the Alertmanagers to take them over; the new pending alerts wait their `for`",
				zap.String("alert", r.Name()), zap.Error(err))
		}
		return false
	}
	took := false
	r.ForEachActiveAlert(func(a *rules.Alert) {
		if a.State != rules.StatePending || a.ActiveAt.Before(ts) {
			return
		}
		s, ok := started[t.sentLabels(a.Labels).String()]
		if !ok {
			return
		}
		if at := s.Add(-hold); at.Before(a.ActiveAt) {
			a.ActiveAt, took = at, true
			t.logger.Info("alert already firing at an Alertmanager taken over: fires at the next evaluation",
				zap.String("alert", r.Name()), zap.String("labels", a.Labels.String()), zap.Time("firing_since", s))
		}
	})
	return took
}

// wait returns once no lookup is under way (their context ended first).
func (t *takeover) wait() {
	if t != nil {
		t.wg.Wait()
	}
}

// sentLabels are the labels the notifier sends for an alert's labels: the external labels added
// where the alert has none of that name.
func (t *takeover) sentLabels(ls labels.Labels) labels.Labels {
	if t.ext.IsEmpty() {
		return ls
	}
	b := labels.NewBuilder(ls)
	t.ext.Range(func(l labels.Label) {
		if !ls.Has(l.Name) {
			b.Set(l.Name, l.Value)
		}
	})
	return b.Labels()
}

// firing returns the start of every active alert named name at the Alertmanagers (the earliest
// where several hold it), by label set. It fails only if no Alertmanager answered.
func (t *takeover) firing(ctx context.Context, name string) (map[string]time.Time, error) {
	q := url.Values{"active": {"true"}, "silenced": {"true"}, "inhibited": {"true"}, "unprocessed": {"true"},
		"filter": {fmt.Sprintf("alertname=%q", name)}}
	out := map[string]time.Time{}
	var errs []string
	answered := false
	for _, base := range t.bases {
		alerts, err := t.get(ctx, base+"/api/v2/alerts?"+q.Encode())
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		answered = true
		for _, a := range alerts {
			if a.StartsAt.IsZero() {
				continue
			}
			k := labels.FromMap(a.Labels).String()
			if s, ok := out[k]; !ok || a.StartsAt.Before(s) {
				out[k] = a.StartsAt
			}
		}
	}
	if !answered {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// maxAlertsBody bounds what is read of one Alertmanager's answer.
const maxAlertsBody = 32 << 20

func (t *takeover) get(ctx context.Context, u string) ([]amAlert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s answered %s", req.URL.Redacted(), resp.Status)
	}
	var alerts []amAlert
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAlertsBody)).Decode(&alerts); err != nil {
		return nil, fmt.Errorf("cannot decode the alerts of %s: %w", req.URL.Redacted(), err)
	}
	return alerts, nil
}
