package replicationreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, filepath.Join("testdata", "config.yaml"), "replication", cfg))
	require.Equal(t, 10*time.Second, cfg.CollectionInterval)
	require.Equal(t, 2*time.Second, cfg.Timeout)
	require.Len(t, cfg.PostgreSQL, 2)
	inst, err := pgInstance(cfg.PostgreSQL[0])
	require.NoError(t, err)
	require.Equal(t, "10.0.0.5:5432", inst)
	inst, err = pgInstance(cfg.PostgreSQL[1])
	require.NoError(t, err)
	require.Equal(t, "pg-replica-0", inst)
	inst, err = pgInstance(PostgreSQLTarget{DSN: cfg.PostgreSQL[1].DSN})
	require.NoError(t, err)
	require.Equal(t, "pg-replica:5432", inst, "default port")
	require.Equal(t, []RedisTarget{{Endpoint: "10.0.0.7:6379", Password: "secret"}}, cfg.Redis)
	require.Equal(t, "10.0.0.7:6379", redisInstance(cfg.Redis[0]))
	require.NotContains(t, cfg.PostgreSQL[0].DSN.String(), "secret", "the DSN is opaque in logs")

	err = testutil.LoadConfig(t, filepath.Join("testdata", "config.yaml"), "replication/unknown", createDefaultConfig())
	require.ErrorContains(t, err, "passwd")
}
