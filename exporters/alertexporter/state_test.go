package alertexporter

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// restartable is an exporter with a walstorage extension whose directory survives restarts.
type restartable struct {
	dir, rules, am string
}

func (r restartable) start(t *testing.T) (stop func()) {
	t.Helper()
	wf := walstorageextension.NewFactory()
	wcfg := wf.CreateDefaultConfig().(*walstorageextension.Config)
	wcfg.Directory = r.dir
	ws, err := wf.Create(context.Background(), extensiontest.NewNopSettings(walstorageextension.Type), wcfg)
	require.NoError(t, err)
	require.NoError(t, ws.Start(context.Background(), componenttest.NewNopHost()))
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{r.rules}
	cfg.Alertmanagers = []string{r.am}
	cfg.MinEvalInterval = 100 * time.Millisecond
	cfg.ResendDelay = 100 * time.Millisecond
	id := component.NewID(walstorageextension.Type)
	cfg.Storage = &id
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	set.ID = component.NewID(Type) // stable across restarts, as in a collector
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ws})))
	e := exp.(*alertExporter)
	stopFeed := make(chan struct{})
	fed := make(chan struct{})
	go func() { // a replica lagging 45s, reported every 100ms
		defer close(fed)
		for {
			if err := e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, time.Now())); err != nil {
				t.Error(err)
			}
			select {
			case <-stopFeed:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(stopFeed)
		<-fed
		require.NoError(t, exp.Shutdown(context.Background()))
		require.NoError(t, ws.Shutdown(context.Background()))
	}
}

// A pending alert keeps, across a restart, the time it already spent pending.
func TestPendingTimerSurvivesRestart(t *testing.T) {
	am := newAMRecorder(t)
	r := restartable{dir: t.TempDir(), am: am.URL, rules: writeRules(t, `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 6s
`)}
	stop := r.start(t)
	time.Sleep(4 * time.Second) // pending for ~4s of 6s
	stop()
	require.Empty(t, am.received("ReplicaLagHigh"), "not fired before the restart")

	restart := time.Now()
	stop = r.start(t)
	defer stop()
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(am.received("ReplicaLagHigh")) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	took := time.Since(restart)
	// ~2s left (plus the restart itself): a forgotten timer would need the whole 6s.
	require.Less(t, took, 4500*time.Millisecond, "fired %s after the restart", took)
}

// A firing alert is firing again right after a restart, without waiting for its `for` again.
func TestFiringAlertSurvivesRestart(t *testing.T) {
	am := newAMRecorder(t)
	r := restartable{dir: t.TempDir(), am: am.URL, rules: writeRules(t, `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 2s
`)}
	stop := r.start(t)
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(am.received("ReplicaLagHigh")) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond) // let the state saver see it
	stop()

	restart := time.Now()
	sentBefore := len(am.received("ReplicaLagHigh"))
	stop = r.start(t)
	defer stop()
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(am.received("ReplicaLagHigh")) == sentBefore {
			return os.ErrNotExist
		}
		return nil
	})
	took := time.Since(restart)
	require.Less(t, took, 1500*time.Millisecond, "re-sent %s after the restart: for was waited again", took)
	// Never resolved in between: every notification is a firing one (endsAt minutes ahead).
	for _, a := range am.received("ReplicaLagHigh") {
		require.True(t, a.EndsAt.After(time.Now().Add(time.Minute)), "a resolved notification: %+v", a)
	}
}
