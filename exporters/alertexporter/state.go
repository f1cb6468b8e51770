package alertexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"go.opentelemetry.io/collector/component"
	xstorage "go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/storage/series"
)

// Alert state survives restarts the way it does in Prometheus: the ALERTS_FOR_STATE series that
// the rules package writes (one per pending or firing alert, valued with the time the alert became
// active) are saved in the storage extension, and after a restart each group's first evaluation
// is followed by Group.RestoreForState over the saved series. A firing alert is firing again at
// the next evaluation (Alertmanager merges it with the one it holds: no new page); a pending
// alert keeps the time it already spent pending (the downtime does not count, as in Prometheus).

const (
	stateKey      = "alerts_for_state"
	forStateName  = "ALERTS_FOR_STATE"
	stateInterval = time.Second
)

type stateSeries struct {
	Labels map[string]string `json:"labels"`
	T      int64             `json:"t"` // ms
	V      float64           `json:"v"` // unix seconds the alert became active
}

func storageClient(ctx context.Context, host component.Host, id component.ID, self component.ID) (xstorage.Client, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not configured (add it under extensions and service.extensions)", id)
	}
	st, ok := ext.(xstorage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension", id)
	}
	return st.GetClient(ctx, component.KindExporter, self, "alert")
}

func forStateMatcher() *labels.Matcher {
	return labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, forStateName)
}

// loadState reads the saved ALERTS_FOR_STATE series into a store of their own, the Queryable of
// Group.RestoreForState.
func loadState(ctx context.Context, client xstorage.Client) (*series.Store, int, error) {
	raw, err := client.Get(ctx, stateKey)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read alert state: %w", err)
	}
	var saved []stateSeries
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &saved); err != nil {
			return nil, 0, fmt.Errorf("cannot decode alert state (key %q of the storage extension): %w", stateKey, err)
		}
	}
	st, err := series.NewStore(series.Options{
		MaxSeries: max(len(saved), 1),
		Needs:     []series.Need{{Matchers: []*labels.Matcher{forStateMatcher()}, Window: 24 * time.Hour, Owner: -1}},
	})
	if err != nil {
		return nil, 0, err
	}
	app := st.NewAppender()
	for _, s := range saved {
		if _, err := app.Append(0, labels.FromMap(s.Labels), s.T, s.V); err != nil {
			return nil, 0, fmt.Errorf("cannot restore alert state: %w", err)
		}
	}
	return st, len(saved), nil
}

// snapshotState returns the newest sample of every ALERTS_FOR_STATE series that is not stale,
// encoded, sorted by labels.
func snapshotState(ctx context.Context, store *series.Store) ([]byte, error) {
	q, err := store.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	ss := q.Select(ctx, true, nil, forStateMatcher())
	out := []stateSeries{}
	var it chunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		var (
			t     int64
			v     float64
			found bool
		)
		for it.Next() == chunkenc.ValFloat {
			t, v = it.At()
			found = true
		}
		if found && !value.IsStaleNaN(v) {
			out = append(out, stateSeries{Labels: s.Labels().Map(), T: t, V: v})
		}
	}
	if err := ss.Err(); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// runStateSaver saves the alert state every second once every group has restored its own, and
// once more when ctx ends (Shutdown).
func (e *alertExporter) runStateSaver(ctx context.Context, client xstorage.Client, restored <-chan struct{}) {
	select {
	case <-ctx.Done():
		return // nothing restored yet: keep what was saved
	case <-restored:
	}
	var last []byte
	save := func(ctx context.Context) {
		b, err := snapshotState(ctx, e.store)
		if err != nil || bytes.Equal(b, last) {
			return
		}
		if err := client.Set(ctx, stateKey, b); err != nil {
			e.logger.Warn("cannot save alert state", zap.Error(err))
			return
		}
		last = b
	}
	t := time.NewTicker(stateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			save(context.Background())
			return
		case <-t.C:
			save(ctx)
		}
	}
}

var _ storage.Queryable = (*series.Store)(nil)

// maxInterval is the longest group interval.
func maxInterval(intervals []time.Duration) time.Duration {
	if len(intervals) == 0 {
		return time.Minute
	}
	return slices.Max(intervals)
}
