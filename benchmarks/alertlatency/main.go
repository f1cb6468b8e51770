// Command alertlatency measures detection latency side by side: the time from a sample being
// accepted to the Alertmanager POST that carries the alert it fires (a rule without `for`), for
// vigil's streaming alert core and for Prometheus (15s scrape and evaluation intervals, as the
// issue asks), on the same values and the same rule, in the same run.
//
// Two vigil processes run side by side: one with alert evidence off, one with it on (the
// all-in-one's evidence index filled with the warning lines of -evidence-pods pods before the
// rounds, and the alerts' lines found by a walk of the whole index: the slowest lookup).
//
// vigil receives the value over OTLP/HTTP every 15s (accepted = the 200 answer); Prometheus
// scrapes the same value from an in-process /metrics target every 15s (accepted = the scrape that
// first returned the new value). Both notify an in-process Alertmanager stand-in that records
// when each alert first arrives firing. Each round raises the lag of a new instance above the
// threshold and waits for both alerts.
//
//	go run ./benchmarks/alertlatency -rounds 8 -evidence-pods 10000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

const rule = `groups:
  - name: lag
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
`

func main() {
	vigil := flag.String("vigil", "", "path of a vigil binary (default: build ./cmd/vigil)")
	prom := flag.String("prometheus", "/usr/bin/prometheus", "path of the Prometheus binary")
	rounds := flag.Int("rounds", 8, "alerts to measure")
	pods := flag.Int("evidence-pods", 10_000, "pods whose warning lines fill the evidence index of the vigil with evidence")
	flag.Parse()
	if err := run(*vigil, *prom, *rounds, *pods); err != nil {
		fmt.Fprintln(os.Stderr, "alertlatency:", err)
		os.Exit(1)
	}
}

// state is the lag of each instance, shared by the /metrics target and the OTLP pusher, with the
// times each system accepted each instance's high value.
type state struct {
	mu        sync.Mutex
	lag       map[string]float64
	changed   map[string]time.Time            // when the value was raised
	promSaw   map[string]time.Time            // first scrape that returned the raised value
	vigilSaw  map[string]map[string]time.Time // per sender: start of the OTLP push that carried it (answered 200)
	firstPost map[string]map[string]time.Time
	evidence  map[string]int // per sender: firing alerts that carried vigil_logs
}

func (s *state) metrics(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var b strings.Builder
	b.WriteString("# TYPE pg_replication_lag_seconds gauge\n")
	for inst, v := range s.lag {
		fmt.Fprintf(&b, "pg_replication_lag_seconds{replica=%q} %g\n", inst, v)
		if v > 30 && s.promSaw[inst].IsZero() {
			s.promSaw[inst] = now
		}
	}
	_, _ = w.Write([]byte(b.String()))
}

// alertmanager records the first firing POST of each alert, per sender (the external label).
func (s *state) alertmanager(w http.ResponseWriter, r *http.Request) {
	var batch []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		EndsAt      time.Time         `json:"endsAt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	s.mu.Lock()
	for _, a := range batch {
		if a.EndsAt.Before(now) {
			continue // resolved
		}
		from, inst := a.Labels["sender"], a.Labels["replica"]
		if a.Annotations["vigil_logs"] != "" {
			s.evidence[from]++
		}
		if s.firstPost[from] == nil {
			s.firstPost[from] = map[string]time.Time{}
		}
		if _, ok := s.firstPost[from][inst]; !ok {
			s.firstPost[from][inst] = now
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *state) push(ctx context.Context, sender, url string) error {
	s.mu.Lock()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "postgresql")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("pg_replication_lag_seconds")
	dps := m.SetEmptyGauge().DataPoints()
	var high []string
	now := time.Now()
	for inst, v := range s.lag {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.SetDoubleValue(v)
		dp.Attributes().PutStr("replica", inst)
		if v > 30 && s.vigilSaw[sender][inst].IsZero() {
			high = append(high, inst)
		}
	}
	s.mu.Unlock()
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	sent := time.Now() // accepted is within the request: counting from its start is conservative
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("OTLP push answered %d", resp.StatusCode)
	}
	s.mu.Lock()
	if s.vigilSaw[sender] == nil {
		s.vigilSaw[sender] = map[string]time.Time{}
	}
	for _, inst := range high {
		if s.vigilSaw[sender][inst].IsZero() {
			s.vigilSaw[sender][inst] = sent
		}
	}
	s.mu.Unlock()
	return nil
}

// fillEvidence sends warning lines of pods pods (5 each, 200 bytes) and of the postgresql
// service the alerts name over OTLP/HTTP, 1000 pods a request.
func fillEvidence(url string, pods int) error {
	line := strings.Repeat("replica lagging: WAL replay behind, conflict with recovery; ", 4)[:200]
	send := func(ld plog.Logs) error {
		body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			return err
		}
		resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(body)) //nolint:noctx // benchmark
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("OTLP logs push answered %d", resp.StatusCode)
		}
		return nil
	}
	add := func(ld plog.Logs, attrs map[string]string) {
		rl := ld.ResourceLogs().AppendEmpty()
		for k, v := range attrs {
			rl.Resource().Attributes().PutStr(k, v)
		}
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for range 5 {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.Body().SetStr(line)
		}
	}
	ld := plog.NewLogs()
	add(ld, map[string]string{"service.name": "postgresql"})
	for i := range pods {
		add(ld, map[string]string{"service.name": fmt.Sprintf("app-%d", i%500), "k8s.namespace.name": fmt.Sprintf("team-%d", i%300),
			"k8s.pod.name": fmt.Sprintf("app-%d-7d9f8c6b5-%05d", i%500, i)})
		if ld.ResourceLogs().Len() == 1000 {
			if err := send(ld); err != nil {
				return err
			}
			ld = plog.NewLogs()
		}
	}
	return send(ld)
}

func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { _ = srv.Close() }, nil
}

func start(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, cmd.Start()
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func waitHTTP(url string) error {
	for range 300 {
		if resp, err := http.Get(url); err == nil { //nolint:noctx // readiness probe
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30s", url)
}

func run(vigil, prom string, rounds, pods int) error {
	dir, err := os.MkdirTemp("", "alertlatency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if vigil == "" {
		vigil = filepath.Join(dir, "vigil")
		build := exec.Command("go", "build", "-o", vigil, "./cmd/vigil")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("cannot build vigil: %w", err)
		}
	}
	s := &state{lag: map[string]float64{}, changed: map[string]time.Time{}, promSaw: map[string]time.Time{},
		vigilSaw: map[string]map[string]time.Time{}, firstPost: map[string]map[string]time.Time{}, evidence: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", s.metrics)
	mux.HandleFunc("/api/v2/alerts", s.alertmanager)
	addr, closeSrv, err := serve(mux)
	if err != nil {
		return err
	}
	defer closeSrv()

	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(rule), 0o600); err != nil {
		return err
	}
	promAddr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, fmt.Appendf(nil, `global:
  scrape_interval: 15s
  evaluation_interval: 15s
  external_labels: {sender: prometheus}
rule_files: [%q]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:
  - job_name: postgresql
    static_configs: [{targets: [%q]}]
`, rules, addr, addr), 0o600); err != nil {
		return err
	}
	p, err := start(prom, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	if err != nil {
		return fmt.Errorf("cannot start prometheus: %w", err)
	}
	defer stop(p)
	// vigil without evidence, and vigil with it, the same binary and configuration otherwise.
	otlp := map[string]string{}
	for _, sender := range []string{"vigil", "vigil+evidence"} {
		addrs := map[string]string{}
		for _, k := range []string{"VIGIL_OTLP_GRPC_ENDPOINT", "VIGIL_OTLP_HTTP_ENDPOINT", "VIGIL_HEALTH_ENDPOINT", "VIGIL_AUDIT_ENDPOINT", "VIGIL_API_ENDPOINT", "metrics"} {
			if addrs[k], err = harness.FreeAddr(); err != nil {
				return err
			}
		}
		v := exec.Command(vigil, "--data-dir", filepath.Join(dir, "data-"+sender), "--rules", rules, "--alertmanager", "http://"+addr,
			"--set=exporters::alert::external_labels::sender="+sender,
			fmt.Sprintf("--set=exporters::alert::evidence::enabled=%t", sender != "vigil"))
		v.Env = append(os.Environ(), "VIGIL_METRICS_PORT="+strings.Split(addrs["metrics"], ":")[1])
		for k, a := range addrs {
			if k != "metrics" {
				v.Env = append(v.Env, k+"="+a)
			}
		}
		v.Stdout, v.Stderr = os.Stderr, os.Stderr
		v.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := v.Start(); err != nil {
			return fmt.Errorf("cannot start vigil: %w", err)
		}
		defer stop(v)
		if err := waitHTTP("http://" + addrs["VIGIL_HEALTH_ENDPOINT"] + "/"); err != nil {
			return err
		}
		otlp[sender] = "http://" + addrs["VIGIL_OTLP_HTTP_ENDPOINT"]
	}
	if err := waitHTTP("http://" + promAddr + "/-/ready"); err != nil {
		return err
	}
	began := time.Now()
	if err := fillEvidence(otlp["vigil+evidence"]+"/v1/logs", pods); err != nil {
		return err
	}
	fmt.Printf("evidence index of vigil+evidence filled with the lines of %d pods in %s\n", pods+1, time.Since(began).Round(time.Millisecond))
	return measure(s, map[string]string{"vigil": otlp["vigil"] + "/v1/metrics", "vigil+evidence": otlp["vigil+evidence"] + "/v1/metrics"}, rounds)
}

func measure(s *state, otlpURLs map[string]string, rounds int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pushErr := make(chan error, 1)
	go func() { // vigil receives the values every 15s, as Prometheus scrapes them
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			for sender, u := range otlpURLs {
				if err := s.push(ctx, sender, u); err != nil && ctx.Err() == nil {
					select {
					case pushErr <- err:
					default:
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var vigilLat, evLat, promLat, vigilTotal, evTotal, promTotal []time.Duration
	for i := range rounds {
		inst := fmt.Sprintf("replica-%d", i)
		s.mu.Lock()
		s.lag[inst], s.changed[inst] = 45, time.Now()
		s.mu.Unlock()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			s.mu.Lock()
			pv, vv, ev := s.firstPost["prometheus"][inst], s.firstPost["vigil"][inst], s.firstPost["vigil+evidence"][inst]
			ps, vs, es := s.promSaw[inst], s.vigilSaw["vigil"][inst], s.vigilSaw["vigil+evidence"][inst]
			changed := s.changed[inst]
			s.mu.Unlock()
			if !pv.IsZero() && !vv.IsZero() && !ev.IsZero() {
				promLat, vigilLat, evLat = append(promLat, pv.Sub(ps)), append(vigilLat, vv.Sub(vs)), append(evLat, ev.Sub(es))
				promTotal, vigilTotal, evTotal = append(promTotal, pv.Sub(changed)), append(vigilTotal, vv.Sub(changed)), append(evTotal, ev.Sub(changed))
				fmt.Printf("round %d: accepted -> POST: vigil %s, vigil+evidence %s, prometheus %s; value changed -> POST: vigil %s, vigil+evidence %s, prometheus %s\n",
					i, vv.Sub(vs).Round(time.Millisecond), ev.Sub(es).Round(time.Millisecond), pv.Sub(ps).Round(time.Millisecond),
					vv.Sub(changed).Round(time.Millisecond), ev.Sub(changed).Round(time.Millisecond), pv.Sub(changed).Round(time.Millisecond))
				break
			}
			select {
			case err := <-pushErr:
				return err
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("round %d: no alert after 2m (vigil %v, vigil+evidence %v, prometheus %v)", i, vv, ev, pv)
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.mu.Lock()
		s.lag[inst] = 1 // recovers
		s.mu.Unlock()
	}
	pct := func(d []time.Duration, q float64) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, int(q*float64(len(d))))]
	}
	fmt.Printf("\nmachine: %s, %d cores; %d alerts\n", runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), rounds)
	fmt.Printf("%-36s %10s %10s %10s\n", "", "p50", "p99", "max")
	for _, r := range []struct {
		name string
		d    []time.Duration
	}{
		{"vigil: accepted -> POST", vigilLat}, {"vigil+evidence: accepted -> POST", evLat}, {"prometheus: accepted -> POST", promLat},
		{"vigil: value changed -> POST", vigilTotal}, {"vigil+evidence: value changed -> POST", evTotal}, {"prometheus: value changed -> POST", promTotal},
	} {
		fmt.Printf("%-36s %10s %10s %10s\n", r.name, pct(r.d, 0.5).Round(time.Millisecond), pct(r.d, 0.99).Round(time.Millisecond),
			slices.Max(r.d).Round(time.Millisecond))
	}
	s.mu.Lock()
	fmt.Printf("firing alerts posted with vigil_logs: vigil %d, vigil+evidence %d (of %d rounds)\n", s.evidence["vigil"], s.evidence["vigil+evidence"], rounds)
	s.mu.Unlock()
	return nil
}
