package testutil

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a real redis-server (Debian package "redis-server") on 127.0.0.1, without persistence.
type Redis struct {
	Addr string
	Port int
	Proc *Process
	// Password is sent by Do once set (CONFIG SET requirepass).
	Password string
}

// StartRedis runs redis-server; with a non-empty replicaOf ("host:port") it is a replica of it.
// It skips (fails in CI) when redis-server is not installed.
func StartRedis(t testing.TB, replicaOf string) *Redis {
	t.Helper()
	bin := RequireBinary(t, "redis-server", "apt-get install -y redis-server (Debian package, Redis 7)", "/usr/bin/redis-server")
	port := FreePort(t)
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--loglevel", "warning"}
	if replicaOf != "" {
		host, p, _ := strings.Cut(replicaOf, ":")
		args = append(args, "--replicaof", host, p)
	}
	r.Proc = Start(t, "redis-server "+r.Addr, nil, bin, args...)
	Eventually(t, 10*time.Second, func() error {
		_, err := r.Do("PING")
		return err
	})
	return r
}

// Do sends one command and returns its reply as text.
func (r *Redis) Do(args ...string) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := make([]any, len(args))
	for i, a := range args {
		cmd[i] = a
	}
	v, err := c.Do(ctx, cmd...).Result()
	if err != nil {
		return "", fmt.Errorf("redis %s: %s: %w", r.Addr, args[0], err)
	}
	return fmt.Sprint(v), nil
}
