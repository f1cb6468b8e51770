package replicationreceiver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
)

// Config is the YAML configuration of the replication receiver.
type Config struct {
	// CollectionInterval is how often every target is scraped (default 15s).
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// Timeout bounds one scrape of one target (default 5s).
	Timeout time.Duration `mapstructure:"timeout"`
	// PostgreSQL servers (primaries and replicas).
	PostgreSQL []PostgreSQLTarget `mapstructure:"postgresql"`
	// Redis servers (masters and replicas).
	Redis []RedisTarget `mapstructure:"redis"`
	_     struct{}
}

// PostgreSQLTarget is one PostgreSQL server.
type PostgreSQLTarget struct {
	// DSN is a lib/pq connection URL, e.g. postgres://monitor@10.0.0.5:5432/postgres?sslmode=require.
	// Any role that may call pg_stat_replication (pg_monitor) will do.
	DSN configopaque.String `mapstructure:"dsn"`
	// Instance is the instance label (default: host:port of the DSN).
	Instance string `mapstructure:"instance"`
	_        struct{}
}

// RedisTarget is one Redis server.
type RedisTarget struct {
	// Endpoint is host:port.
	Endpoint string `mapstructure:"endpoint"`
	// Password, if set, is sent with AUTH (never logged).
	Password configopaque.String `mapstructure:"password"`
	// Instance is the instance label (default: the endpoint).
	Instance string `mapstructure:"instance"`
	_        struct{}
}

func createDefaultConfig() *Config {
	return &Config{CollectionInterval: 15 * time.Second, Timeout: 5 * time.Second}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.CollectionInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("collection_interval: %q must be at least 100ms", c.CollectionInterval))
	}
	if c.Timeout <= 0 || c.Timeout > c.CollectionInterval {
		errs = append(errs, fmt.Errorf("timeout: %q must be positive and at most collection_interval", c.Timeout))
	}
	if len(c.PostgreSQL) == 0 && len(c.Redis) == 0 {
		errs = append(errs, errors.New("postgresql, redis: list at least one server to scrape"))
	}
	for i, p := range c.PostgreSQL {
		if _, err := pgInstance(p); err != nil {
			errs = append(errs, fmt.Errorf("postgresql[%d].dsn: %w", i, err))
		}
	}
	for i, r := range c.Redis {
		if _, _, err := net.SplitHostPort(r.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("redis[%d].endpoint: %q must be host:port", i, r.Endpoint))
		}
	}
	return errors.Join(errs...)
}

// pgInstance is the instance label of a target: Instance, else host:port of the DSN.
func pgInstance(p PostgreSQLTarget) (string, error) {
	u, err := url.Parse(string(p.DSN))
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", errors.New("must be a URL postgres://user@host:port/database?sslmode=... (the password is not shown)")
	}
	if p.Instance != "" {
		return p.Instance, nil
	}
	if u.Port() == "" {
		return u.Hostname() + ":5432", nil
	}
	return u.Host, nil
}

func redisInstance(r RedisTarget) string {
	if r.Instance != "" {
		return r.Instance
	}
	return r.Endpoint
}
