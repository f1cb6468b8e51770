package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a real redis-server (Debian package "redis-server") on 127.0.0.1, without persistence.
type Redis struct {
	Addr string
	Port int
	Proc *Process
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

// Do sends one command and returns the first line of the reply (or the text of a bulk reply).
func (r *Redis) Do(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis %s: %s", r.Addr, line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return strings.TrimLeft(line, "+:"), nil
}
