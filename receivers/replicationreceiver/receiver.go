package replicationreceiver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver for database/sql
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"
)

type replicationReceiver struct {
	cfg    *Config
	next   consumer.Metrics
	logger *zap.Logger

	dbs      []*sql.DB       // per cfg.PostgreSQL
	redis    []*redis.Client // per cfg.Redis
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	failures map[string]string // target -> last error logged, to log each change once
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Metrics) *replicationReceiver {
	return &replicationReceiver{cfg: cfg, next: next, logger: set.Logger, failures: map[string]string{}}
}

// Start opens the PostgreSQL pools and Redis clients (connections are made at the first scrape) and starts the
// scrape loop; the first scrape happens at once.
func (r *replicationReceiver) Start(context.Context, component.Host) error {
	for i, p := range r.cfg.PostgreSQL {
		db, err := sql.Open("postgres", string(p.DSN))
		if err != nil {
			r.closeDBs()
			return fmt.Errorf("cannot open postgresql[%d]: %w", i, err)
		}
		db.SetMaxOpenConns(1)
		r.dbs = append(r.dbs, db)
	}
	for _, t := range r.cfg.Redis {
		r.redis = append(r.redis, newRedisClient(t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() {
		t := time.NewTicker(r.cfg.CollectionInterval)
		defer t.Stop()
		for {
			r.scrape(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return nil
}

// Shutdown stops scraping and closes the pools; safe before Start and idempotent.
func (r *replicationReceiver) Shutdown(context.Context) error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.closeDBs()
	return nil
}

func (r *replicationReceiver) closeDBs() { // and the Redis clients
	for _, db := range r.dbs {
		_ = db.Close()
	}
	for _, c := range r.redis {
		_ = c.Close()
	}
	r.dbs, r.redis = nil, nil
}

// scrape reads every target concurrently and sends one batch. A target that cannot be read
// reports only pg_up / redis_up 0 (its error is logged when it changes).
func (r *replicationReceiver) scrape(ctx context.Context) {
	md := pmetric.NewMetrics()
	now := time.Now()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	run := func(job, upName, instance string, f func(context.Context, batch) error) {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
			defer cancel()
			part := pmetric.NewMetrics()
			b := newBatch(part, job, instance, now)
			err := f(sctx, b)
			if err != nil { // no partial state: only the up metric
				b.ms.RemoveIf(func(pmetric.Metric) bool { return true })
			}
			b.gauge(upName, boolf(err == nil))
			mu.Lock()
			part.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
			mu.Unlock()
			r.noteFailure(job+"/"+instance, err)
		})
	}
	for i, p := range r.cfg.PostgreSQL {
		instance, _ := pgInstance(p)
		db := r.dbs[i]
		run("postgresql", "pg_up", instance, func(ctx context.Context, b batch) error { return scrapePostgreSQL(ctx, db, b) })
	}
	for i, t := range r.cfg.Redis {
		c := r.redis[i]
		run("redis", "redis_up", redisInstance(t), func(ctx context.Context, b batch) error { return scrapeRedis(ctx, c, t, b) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	if err := r.next.ConsumeMetrics(ctx, md); err != nil && !errors.Is(err, context.Canceled) {
		r.logger.Warn("cannot pass replication metrics on", zap.Error(err))
	}
}

func (r *replicationReceiver) noteFailure(target string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if r.failures[target] == msg {
		return
	}
	r.failures[target] = msg
	if err != nil {
		r.logger.Warn("cannot scrape replication state", zap.String("target", target), zap.Error(err))
	} else {
		r.logger.Info("scraping replication state", zap.String("target", target))
	}
}
