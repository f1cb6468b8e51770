package archiveexporter

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// failingBucket refuses uploads while fail is set.
type failingBucket struct {
	objstore.Bucket
	fail atomic.Bool
}

func (b *failingBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	if b.fail.Load() {
		return errors.New("injected: the bucket refuses writes")
	}
	return b.Bucket.Upload(ctx, name, r, opts...)
}

// While the bucket refuses writes, the age of the oldest staged event grows, from staging through
// sealing; once the objects are written it is 0.
func TestOldestAgeWhileTheBucketRefuses(t *testing.T) {
	ctx := context.Background()
	wcfg := walstorageextension.NewFactory().CreateDefaultConfig().(*walstorageextension.Config)
	wcfg.Directory = t.TempDir()
	ws, err := walstorageextension.NewFactory().Create(ctx, extensiontest.NewNopSettings(walstorageextension.Type), wcfg)
	require.NoError(t, err)
	require.NoError(t, ws.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ws.Shutdown(context.Background())) })
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig()
	cfg.Directory, cfg.Storage = t.TempDir(), component.NewID(walstorageextension.Type)
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	e := exp.(*archiveExporter)
	require.NoError(t, e.Start(ctx, testutil.Host(map[component.ID]component.Component{cfg.Storage: ws})))
	// The test seals and writes itself (flush), with a bucket that can fail.
	close(e.stop)
	<-e.done
	bkt := &failingBucket{Bucket: e.bucket}
	bkt.fail.Store(true)
	e.bucket = bkt

	age := func() float64 {
		t.Helper()
		m, err := tel.GetMetric("vigil_archive_oldest_age_seconds")
		require.NoError(t, err)
		dps := m.Data.(metricdata.Gauge[float64]).DataPoints
		require.Len(t, dps, 1)
		return dps[0].Value
	}
	require.Zero(t, age(), "nothing staged")

	// The age of the first object of "a", staged between start and staged.
	start := time.Now()
	require.NoError(t, e.ConsumeLogs(ctx, logs("a", 0, 10)))
	staged := time.Now()
	firstObject := func() (float64, float64) { return time.Since(staged).Seconds(), time.Since(start).Seconds() }
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, e.ConsumeLogs(ctx, logs("b", 0, 10))) // younger: does not lower the age
	low, _ := firstObject()
	open := age()
	_, high := firstObject()
	require.Greater(t, open, 0.0, "staged in the open object")
	require.GreaterOrEqual(t, open, low)
	require.LessOrEqual(t, open, high)

	require.Error(t, e.flush(ctx, true), "the bucket refuses")
	require.Len(t, e.streams["a"].Sealed, 1)
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, e.ConsumeLogs(ctx, logs("a", 10, 10))) // a new open object behind the sealed one
	low, _ = firstObject()
	sealed := age()
	_, high = firstObject()
	require.GreaterOrEqual(t, sealed-open, 0.1, "the age grows while the sealed object cannot be written")
	require.GreaterOrEqual(t, sealed, low, "the age of the first, sealed object")
	require.LessOrEqual(t, sealed, high)

	bkt.fail.Store(false)
	require.NoError(t, e.flush(ctx, true))
	require.Empty(t, e.streams["a"].Sealed)
	require.Len(t, contents(t, cfg.Directory, "a"), 20)
	require.Zero(t, age(), "nothing staged once the objects are written")
	require.NoError(t, e.Shutdown(ctx))
}
