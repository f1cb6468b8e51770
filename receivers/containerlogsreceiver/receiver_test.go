package containerlogsreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vigil-obs/vigil/internal/k8spod/k8spodtest"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
	"github.com/vigil-obs/vigil/internal/k8spod"
	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/internal/relayqueue"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// env is a node's log directory and a walstorage for the positions; with relay, the receiver
// puts its records in a relay's queue (relay: otlprelay) that decodes them into the sink.
type env struct {
	dir, queue string
	relay      bool
}

// bothPaths runs test with the records going to the pipeline (pdata) and to a relay's queue
// (encoded on the wire): newEnv makes envs of the path.
func bothPaths(t *testing.T, test func(t *testing.T, newEnv func(*testing.T) env)) {
	for _, relay := range []bool{false, true} {
		name := "pipeline"
		if relay {
			name = "relay"
		}
		t.Run(name, func(t *testing.T) {
			test(t, func(t *testing.T) env { e := newEnv(t); e.relay = relay; return e })
		})
	}
}

// sinkQueue is a relay's logs queue that checks each request as the relay does and decodes it
// into a sink; fail, when set, refuses a request (the relay's queue could not make it durable).
type sinkQueue struct {
	sink *consumertest.LogsSink
	fail func() error
}

func (q sinkQueue) QueueLogs(ctx context.Context, req []byte) error {
	if q.fail != nil {
		if err := q.fail(); err != nil {
			return err
		}
	}
	if _, err := otlpwire.Check(otlpwire.Logs, req); err != nil {
		return err
	}
	er := plogotlp.NewExportRequest()
	if err := er.UnmarshalProto(req); err != nil {
		return err
	}
	return q.sink.ConsumeLogs(ctx, er.Logs())
}

var relayID = component.MustNewID("otlprelay")

func newEnv(t *testing.T) env {
	t.Helper()
	d := t.TempDir()
	return env{dir: filepath.Join(d, "pods"), queue: filepath.Join(d, "queue")}
}

// file is the path of a container's log file, its directory created.
func (e env) file(t *testing.T, ns, pod, uid, container string, restart int) string {
	t.Helper()
	dir := filepath.Join(e.dir, ns+"_"+pod+"_"+uid, container)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return filepath.Join(dir, fmt.Sprintf("%d.log", restart))
}

func (e env) config(mutate func(*Config)) *Config {
	cfg := createDefaultConfig()
	id := component.NewID(walstorageextension.Type)
	cfg.Include, cfg.Storage, cfg.PollInterval, cfg.NodeName = []string{filepath.Join(e.dir, "*", "*", "*.log")}, &id, 10*time.Millisecond, ""
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

// start runs the receiver with its walstorage; the returned func stops both.
func (e env) start(t *testing.T, cfg *Config, sink *consumertest.LogsSink) func() {
	t.Helper()
	return e.startWithAPI(t, cfg, sink, nil)
}

// startWithAPI is start with kube as the Kubernetes API of pod_metadata.
func (e env) startWithAPI(t *testing.T, cfg *Config, sink *consumertest.LogsSink, kube k8spod.Pods) func() {
	t.Helper()
	require.NoError(t, cfg.Validate())
	ws := walstoragetest.Start(t, e.queue)
	set := receivertest.NewNopSettings(Type)
	set.ID = component.NewID(Type) // the same storage keys on every start
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	r.(*containerLogs).kube = kube
	if e.relay {
		cfg.Relay = &relayID
		t.Cleanup(relayqueue.Register(ws, relayID, sinkQueue{sink: sink}))
	}
	require.NoError(t, r.Start(context.Background(), testutil.Host(map[component.ID]component.Component{*cfg.Storage: ws})))
	var once sync.Once
	stop := func() {
		once.Do(func() {
			require.NoError(t, r.Shutdown(context.Background()))
			require.NoError(t, ws.Shutdown(context.Background()))
		})
	}
	t.Cleanup(stop)
	return stop
}

func appendTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	for _, l := range lines {
		_, err = f.WriteString(l + "\n")
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}

type got struct {
	body     string
	resource map[string]any
	attrs    map[string]any
	sev      plog.SeverityNumber
}

func records(sink *consumertest.LogsSink) []got {
	var out []got
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					out = append(out, got{body: lr.Body().Str(), resource: rl.Resource().Attributes().AsRaw(),
						attrs: lr.Attributes().AsRaw(), sev: lr.SeverityNumber()})
				}
			}
		}
	}
	return out
}

func waitRecords(t *testing.T, sink *consumertest.LogsSink, n int) []got {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if sink.LogRecordCount() >= n {
			return records(sink)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d records after 20s, want %d", sink.LogRecordCount(), n)
	return nil
}

func TestIdentityFormatsAndSeverity(t *testing.T) {
	bothPaths(t, func(t *testing.T, newEnv func(*testing.T) env) {
		e := newEnv(t)
		cri := e.file(t, "shop", "web-7d9f8-abcde", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "nginx", 2)
		docker := e.file(t, "kube-system", "coredns-1", "uid-2", "coredns", 0)
		skipped := e.file(t, "noisy", "spam-1", "uid-3", "spam", 0)
		appendTo(t, cri,
			"2023-10-06T00:17:10.113242941Z stdout F GET /index.html 200",
			"2023-10-06T00:17:10.213242941Z stderr P 2023/10/06 00:17:10 [error] 29#29: ",
			"2023-10-06T00:17:10.213242942Z stderr F open() failed")
		appendTo(t, docker, `{"log":"[INFO] plugin/reload: Running configuration SHA512\n","stream":"stdout","time":"2023-10-06T00:17:10.5Z"}`)
		appendTo(t, skipped, "2023-10-06T00:17:10Z stdout F never")
		sink := new(consumertest.LogsSink)
		e.start(t, e.config(func(c *Config) { c.ExcludeNamespaces = []string{"noi*"} }), sink)
		recs := waitRecords(t, sink, 3)
		time.Sleep(100 * time.Millisecond)
		recs = records(sink)
		require.Len(t, recs, 3)
		byBody := map[string]got{}
		for _, r := range recs {
			byBody[r.body] = r
		}
		r := byBody["GET /index.html 200"]
		require.Equal(t, map[string]any{"k8s.namespace.name": "shop", "k8s.pod.name": "web-7d9f8-abcde",
			"k8s.pod.uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "k8s.container.name": "nginx",
			"k8s.container.restart_count": int64(2)}, r.resource)
		require.Equal(t, "stdout", r.attrs["log.iostream"])
		require.Equal(t, cri, r.attrs["log.file.path"])
		require.Equal(t, plog.SeverityNumberInfo, r.sev)
		r = byBody["2023/10/06 00:17:10 [error] 29#29: open() failed"]
		require.Equal(t, "stderr", r.attrs["log.iostream"])
		require.Equal(t, plog.SeverityNumberError, r.sev)
		r = byBody["[INFO] plugin/reload: Running configuration SHA512"]
		require.Equal(t, "coredns", r.resource["k8s.container.name"])
		require.Equal(t, plog.SeverityNumberInfo, r.sev)
	})
}

// A 3 MiB output line in 16 KiB parts is joined whole; a 3 MiB line the runtime did not split
// is cut at max_log_bytes (memory stays bounded) and the lines after it are read.
func TestMultiMegabyteLines(t *testing.T) {
	bothPaths(t, func(t *testing.T, newEnv func(*testing.T) env) {
		e := newEnv(t)
		path := e.file(t, "ns", "p", "u", "c", 0)
		var lines []string
		var whole strings.Builder
		for i := range 192 {
			part := strings.Repeat(string(rune('a'+i%26)), 16<<10)
			whole.WriteString(part)
			tag := "P"
			if i == 191 {
				tag = "F"
			}
			lines = append(lines, "2023-10-06T00:17:10Z stdout "+tag+" "+part)
		}
		huge := strings.Repeat("z", 3<<20)
		lines = append(lines, "2023-10-06T00:17:11Z stdout F "+huge, "2023-10-06T00:17:12Z stdout F after")
		appendTo(t, path, lines...)
		sink := new(consumertest.LogsSink)
		e.start(t, e.config(func(c *Config) { c.MaxLogBytes = 4 << 20; c.MaxBatchBytes = 8 << 20 }), sink)
		recs := waitRecords(t, sink, 3)
		require.Equal(t, whole.String(), recs[0].body)
		require.Equal(t, huge, recs[1].body, "3 MiB fits max_log_bytes 4 MiB")
		require.Equal(t, "after", recs[2].body)

		e2 := newEnv(t)
		appendTo(t, e2.file(t, "ns", "p", "u", "c", 0), lines...)
		sink2 := new(consumertest.LogsSink)
		e2.start(t, e2.config(func(c *Config) { c.MaxLogBytes = 1 << 20 }), sink2)
		recs = waitRecords(t, sink2, 5)
		var joined strings.Builder
		for _, r := range recs[:3] {
			require.LessOrEqual(t, len(r.body), 1<<20)
			joined.WriteString(r.body)
		}
		require.Equal(t, whole.String(), joined.String(), "split between parts, nothing lost")
		require.Equal(t, huge[:1<<20], recs[3].body, "cut at max_log_bytes")
		require.Equal(t, "after", recs[4].body)
	})
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// A deleted pod's files are read to their end and closed: no descriptor stays open.
func TestDeletedPodReleasesFiles(t *testing.T) {
	e := newEnv(t)
	sink := new(consumertest.LogsSink)
	stop := e.start(t, e.config(nil), sink)
	time.Sleep(50 * time.Millisecond)
	before := openFDs(t)
	var paths []string
	for p := range 20 {
		path := e.file(t, "ns", fmt.Sprintf("job-%d", p), fmt.Sprintf("uid-%d", p), "main", 0)
		appendTo(t, path, fmt.Sprintf("2023-10-06T00:17:10Z stdout F pod %d", p))
		paths = append(paths, path)
	}
	waitRecords(t, sink, 20)
	require.GreaterOrEqual(t, openFDs(t), before+20, "the files are open while followed")
	for _, p := range paths {
		appendTo(t, p, "2023-10-06T00:17:11Z stdout F last words")
		require.NoError(t, os.RemoveAll(filepath.Dir(filepath.Dir(p))))
	}
	waitRecords(t, sink, 40) // written before the deletion: read from the open file
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := openFDs(t); n > before {
			return fmt.Errorf("%d descriptors open, %d before", n, before)
		}
		return nil
	})
	stop()
	require.Len(t, records(sink), 40)
}

// A pod annotated vigil.io/exclude: "true" (or another configured key) is not followed; its
// neighbours, and a pod the API does not know, are.
func TestExcludePodAnnotations(t *testing.T) {
	bothPaths(t, func(t *testing.T, newEnv func(*testing.T) env) {
		e := newEnv(t)
		api := fake.NewClientset()
		for name, annotations := range map[string]map[string]string{
			"muted":     {"vigil.io/exclude": "true"},
			"fluentbit": {"fluentbit.io/exclude": "True"},
			"kept":      {"vigil.io/exclude": "false"},
		} {
			_, err := api.CoreV1().Pods("shop").Create(context.Background(), &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Annotations: annotations},
				Spec:       corev1.PodSpec{NodeName: "node-1"}}, metav1.CreateOptions{})
			require.NoError(t, err)
		}
		for _, pod := range []string{"muted", "fluentbit", "kept", "unknown"} {
			appendTo(t, e.file(t, "shop", pod, "uid-"+pod, "app", 0), "2023-10-06T00:17:10Z stdout F from "+pod)
		}
		sink := new(consumertest.LogsSink)
		e.startWithAPI(t, e.config(func(c *Config) {
			c.NodeName, c.PodMetadata.Enabled = "node-1", true
			c.ExcludePodAnnotations = append(c.ExcludePodAnnotations, "fluentbit.io/exclude")
		}), sink, k8spodtest.Pods(api))
		waitRecords(t, sink, 2)
		time.Sleep(200 * time.Millisecond) // polls at 10ms: the excluded files had their chance
		var bodies []string
		for _, r := range records(sink) {
			bodies = append(bodies, r.body)
		}
		require.ElementsMatch(t, []string{"from kept", "from unknown"}, bodies)
	})
}

// With relay, a relay that starts after the receiver, and then refuses batches (its queue could
// not make them durable), still gets every line exactly once: the receiver waits for it, and
// reads a refused batch again.
func TestRelayLateAndRefusingGetsEveryLineOnce(t *testing.T) {
	e := newEnv(t)
	path := e.file(t, "shop", "api-0", "uid-api", "api", 0)
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf("2023-10-06T00:17:10Z stdout F line %d", i))
	}
	appendTo(t, path, lines[:100]...)
	id := relayID
	cfg := e.config(func(c *Config) { c.MaxBatchBytes, c.Relay = c.MaxLogBytes, &id }) // several batches
	wcfg := walstorageextension.NewFactory().CreateDefaultConfig().(*walstorageextension.Config)
	wcfg.Directory = e.queue
	ws, err := walstorageextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(walstorageextension.Type), wcfg)
	require.NoError(t, err)
	require.NoError(t, ws.Start(context.Background(), testutil.Host(nil)))
	defer func() { require.NoError(t, ws.Shutdown(context.Background())) }()
	set := receivertest.NewNopSettings(Type)
	set.ID = component.NewID(Type)
	sink := new(consumertest.LogsSink)
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), testutil.Host(map[component.ID]component.Component{*cfg.Storage: ws})))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()

	time.Sleep(200 * time.Millisecond) // the receiver waits for the relay to start
	var refused atomic.Int32
	defer relayqueue.Register(ws, relayID, sinkQueue{sink: sink, fail: func() error {
		if refused.Add(1) <= 3 {
			return errors.New("cannot queue the request durably: disk on fire")
		}
		return nil
	}})()
	appendTo(t, path, lines[100:]...)
	waitRecords(t, sink, len(lines))
	time.Sleep(100 * time.Millisecond)
	seen := map[string]int{}
	for _, r := range records(sink) {
		seen[r.body]++
	}
	require.Len(t, seen, len(lines))
	for body, n := range seen {
		require.Equal(t, 1, n, body)
	}
	require.Greater(t, refused.Load(), int32(3), "batches were refused, then read again")
}
