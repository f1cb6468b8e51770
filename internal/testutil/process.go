package testutil

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI (CI=true), where a missing server is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireBinary returns the path of an executable, looked up in PATH and then in extra. If it is
// absent the test is skipped with the install hint, or fails when running in CI.
func RequireBinary(t testing.TB, name, installHint string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range append(extra, filepath.Join(goBin(), name)) {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found; install it: %s", name, installHint)
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// goBin is where `go install` puts binaries (.ci/run installs servers there): $GOBIN, else the
// first entry of $GOPATH plus /bin, else ~/go/bin.
func goBin() string {
	if b := os.Getenv("GOBIN"); b != "" {
		return b
	}
	if gp := filepath.SplitList(os.Getenv("GOPATH")); len(gp) > 0 && gp[0] != "" {
		return filepath.Join(gp[0], "bin")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "bin")
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Ports come from below the
// kernel's ephemeral range (32768 and up), so that a port handed to a process that starts later
// is not taken meanwhile by an outgoing connection; none is handed out twice by one test binary.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		_ = l.Close()
		given[port] = true
		return port
	}
	t.Fatal("cannot find a free port in 20000-31999")
	return 0
}

// FreeAddr returns "127.0.0.1:<free port>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// built is a binary of this module built once per test binary.
type built struct {
	once sync.Once
	path string
	err  error
}

var (
	vigilBuild, agentBuild built
)

// ModuleRoot returns the directory that holds vigil's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("cannot locate go.mod: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// VigilBinary builds ./cmd/vigil once per test binary and returns its path. VIGIL_BINARY, when
// set, names a prebuilt binary to use instead.
func VigilBinary(t testing.TB) string {
	t.Helper()
	return binary(t, &vigilBuild, "VIGIL_BINARY", "vigil")
}

// AgentBinary builds ./cmd/vigil-agent (the agent alone) once per test binary and returns its
// path. VIGIL_AGENT_BINARY, when set, names a prebuilt binary to use instead.
func AgentBinary(t testing.TB) string {
	t.Helper()
	return binary(t, &agentBuild, "VIGIL_AGENT_BINARY", "vigil-agent")
}

func binary(t testing.TB, b *built, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	root := ModuleRoot(t)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", name+"-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Process is a child process whose output is kept for the test log.
type Process struct {
	Cmd  *exec.Cmd
	name string
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Start runs a program until the test ends (then it is stopped with SIGTERM, and SIGKILL after 10 s).
func Start(t testing.TB, name string, env []string, bin string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", name, err)
	}
	p := &Process{Cmd: cmd, name: name, out: buf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_, _ = p.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.Output())
		}
	})
	return p
}

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace for the exit, then kills the process group. It returns
// how long the exit took and the wait error.
func (p *Process) Stop(grace time.Duration) (time.Duration, error) {
	start := time.Now()
	if p.Exited() {
		return 0, p.err
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return time.Since(start), fmt.Errorf("%s did not stop within %s after SIGTERM", p.name, grace)
	}
	return time.Since(start), p.err
}

// WaitHTTP waits until url answers 200, failing the test after timeout.
func WaitHTTP(t testing.TB, url string, timeout time.Duration, p *Process) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if p != nil && p.Exited() {
			return fmt.Errorf("process exited: %w\n%s", p.err, p.Output())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		return nil
	})
}

// Eventually calls f every 100ms until it returns nil, failing the test with f's last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
