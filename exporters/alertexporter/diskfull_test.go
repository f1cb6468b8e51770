package alertexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestStateSavedOnceTheDiskHasSpace: while the storage's file system is full (a real tmpfs) the
// alert state cannot be saved; once space is back it is saved, without a restart.
func TestStateSavedOnceTheDiskHasSpace(t *testing.T) {
	dir := testutil.MountTmpfs(t, 1<<20)
	ctx := context.Background()
	wf := walstorageextension.NewFactory()
	wcfg := wf.CreateDefaultConfig().(*walstorageextension.Config)
	wcfg.Directory = filepath.Join(dir, "queue")
	ws, err := wf.Create(ctx, extensiontest.NewNopSettings(walstorageextension.Type), wcfg)
	require.NoError(t, err)
	require.NoError(t, ws.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ws.Shutdown(ctx)) })
	filler := testutil.FillDisk(t, dir)

	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 1h
`)}
	cfg.Alertmanagers = []string{newAMRecorder(t).URL}
	cfg.MinEvalInterval = 100 * time.Millisecond
	id := component.NewID(walstorageextension.Type)
	cfg.Storage = &id
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	exp, err := NewFactory().CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, testutil.Host(map[component.ID]component.Component{id: ws})))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(ctx)) })
	e := exp.(*alertExporter)
	saved := func() error {
		require.NoError(t, e.ConsumeMetrics(ctx, lag("db-1:9187", 45, time.Now())))
		v, err := e.client.Get(ctx, stateKey)
		if err != nil {
			return err
		}
		if !strings.Contains(string(v), "ReplicaLagHigh") {
			return fmt.Errorf("alert state not saved: %q", v)
		}
		return nil
	}
	for range 25 { // the pending alert's state is due to be saved every second meanwhile
		require.Error(t, saved(), "nothing can be saved on a full disk")
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, os.Remove(filler))
	testutil.Eventually(t, 10*time.Second, saved)
}
