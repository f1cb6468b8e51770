package testutil

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver for database/sql
)

// PostgreSQL is a real PostgreSQL server (Debian package "postgresql") on 127.0.0.1 with trust
// authentication, in a temporary directory.
type PostgreSQL struct {
	Port int
	DSN  string // postgres://postgres@127.0.0.1:port/postgres?sslmode=disable
	DB   *sql.DB
	Proc *Process
	dir  string
}

// pgBin finds a PostgreSQL server binary (Debian puts them in /usr/lib/postgresql/<v>/bin).
func pgBin(t testing.TB, name string) string {
	t.Helper()
	extra, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	return RequireBinary(t, name, "apt-get install -y postgresql (Debian package, PostgreSQL 15)", extra...)
}

// pgCommand runs a PostgreSQL binary as the postgres user when the test runs as root (PostgreSQL
// refuses to run as root).
func pgCommand(bin string, args ...string) (string, []string) {
	if os.Geteuid() == 0 {
		return "/usr/sbin/runuser", append([]string{"-u", "postgres", "--", bin}, args...)
	}
	return bin, args
}

// pgDir makes a directory the server's user owns.
func pgDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (from the postgresql package): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runPG(t testing.TB, bin string, args ...string) {
	t.Helper()
	name, a := pgCommand(bin, args...)
	if out, err := exec.Command(name, a...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
}

// StartPostgreSQL initialises and starts a primary that accepts streaming replicas.
func StartPostgreSQL(t testing.TB) *PostgreSQL {
	t.Helper()
	dir := pgDir(t)
	data := filepath.Join(dir, "data")
	runPG(t, pgBin(t, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
	return startPG(t, dir, data, "wal_level = replica\nmax_wal_senders = 5\n")
}

// StartReplica takes a base backup of the primary and starts it as a streaming replica.
func (p *PostgreSQL) StartReplica(t testing.TB) *PostgreSQL {
	t.Helper()
	dir := pgDir(t)
	data := filepath.Join(dir, "data")
	runPG(t, pgBin(t, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres",
		"-D", data, "-R", "-X", "stream", "--no-sync")
	return startPG(t, dir, data, "hot_standby = on\n")
}

func startPG(t testing.TB, dir, data, conf string) *PostgreSQL {
	t.Helper()
	port := FreePort(t)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\n%s",
		port, dir, conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	name, args := pgCommand(pgBin(t, "postgres"), "-D", data)
	p := &PostgreSQL{Port: port, dir: dir, DSN: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	p.Proc = Start(t, fmt.Sprintf("postgres :%d", port), nil, name, args...)
	p.DB, err = sql.Open("postgres", p.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.DB.Close() })
	Eventually(t, 30*time.Second, func() error {
		if p.Proc.Exited() {
			return fmt.Errorf("postgres exited:\n%s", p.Proc.Output())
		}
		return p.DB.Ping()
	})
	return p
}
