package main

// The scale-out mode (-gateways 1,3): audit log files of several clusters → one agent per
// cluster (deploy/config/agent.yaml: k8saudit on the file, redact, otlp_grpc/gateway-audit on
// walstorage) → 1 or N gateways (deploy/config/gateway.yaml: otlp/audit, clusteridentity, redact,
// opensearch on walstorage and the archive, with VIGIL_ARCHIVE_WRITER per replica when N > 1)
// → one OpenSearch stand-in and one archive directory.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
	"github.com/vigil-obs/vigil/internal/opensearchtest"
	"github.com/vigil-obs/vigil/receivers/otlprelayreceiver"
	"github.com/vigil-obs/vigil/storage/archive"
)

type scaleOutOpts struct {
	vigil      string
	gateways   []int
	rounds     int
	clusters   int
	events     int // per cluster
	profileFor time.Duration
	cpuProfile string
	idle       time.Duration // measure the processes' CPU this long before the load (0: not)
}

// scaleResult is one configuration's run.
type scaleResult struct {
	round, gateways     int
	events, bytes       int64
	wall                time.Duration // load start → OpenSearch has every event
	cpuIndexed          float64       // all vigil processes, load start → OpenSearch has everything
	agentCPU, gwCPU     float64       // the same, split
	cpuExit             float64       // load start → every process exited (SIGTERM: the archive writes and seals the rest)
	harnessCPU          float64
	idleGW, idleAgents  float64 // CPU-seconds per second of the gateways and the agents before the load (-idle)
	perGateway          []int   // clusters per gateway
	resent              int     // OpenSearch index operations beyond one per event (a bulk sent again after a timeout: one document per _id all the same)
	archived, exported  int
	archiveObjects      int
	startLoad, stopLoad string
}

// proc is a running vigil process of the run.
type proc struct {
	name      string
	cmd       *exec.Cmd
	log       *os.File
	pprofAddr string
	cpuAtExit float64
}

func (p *proc) cpu() float64 { return harness.CPUSeconds(p.cmd.Process.Pid) }

// stop sends SIGTERM, waits (15 s, then SIGKILL) and records the process's CPU seconds.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	if st := p.cmd.ProcessState; st != nil {
		p.cpuAtExit = (st.UserTime() + st.SystemTime()).Seconds()
	}
	p.log.Close()
}

// startProc runs vigil with the shipped config and the override that override(pprofAddr) returns
// ("": none; pprofAddr is "" unless pprof), and waits for its health check.
func startProc(bin, name, dir, shipped string, override func(pprofAddr string) string, env []string, pprof bool) (*proc, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	addrs := make([]string, 6)
	for i := range addrs {
		a, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	_, metricsPort, _ := net.SplitHostPort(addrs[3])
	p := &proc{name: name}
	if pprof {
		p.pprofAddr = addrs[5]
	}
	args := []string{"--config", shipped}
	if cfg := override(p.pprofAddr); cfg != "" {
		overridePath := filepath.Join(dir, "override.yaml")
		if err := os.WriteFile(overridePath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--config", overridePath)
	}
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p.log = logFile
	p.cmd = exec.Command(bin, append(args, "--data-dir", filepath.Join(dir, "data"))...)
	p.cmd.Env = append(os.Environ(), append(env,
		"VIGIL_OTLP_GRPC_ENDPOINT="+addrs[0], "VIGIL_OTLP_HTTP_ENDPOINT="+addrs[1],
		"VIGIL_HEALTH_ENDPOINT="+addrs[2], "VIGIL_METRICS_PORT="+metricsPort, "VIGIL_API_ENDPOINT="+addrs[4])...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitHealthy("http://"+addrs[2]+"/", 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %w; see %s", name, err, logFile.Name())
	}
	return p, nil
}

func clusterName(c int) string { return fmt.Sprintf("bench-%d", c) }

func runScaleOut(o scaleOutOpts) error {
	dir, err := os.MkdirTemp("", "vigil-auditscale-")
	if err != nil {
		return err
	}
	failed := true
	defer func() {
		if failed {
			fmt.Fprintf(os.Stderr, "auditpath: the run's files are kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	if o.vigil == "" {
		o.vigil = filepath.Join(dir, "vigil")
		build := exec.Command("go", "build", "-o", o.vigil, "./cmd/vigil")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("cannot build vigil: %w", err)
		}
	}
	pki, err := harness.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	type pair struct{ cert, key string }
	certs := make([]pair, o.clusters)
	for c := range certs {
		if certs[c].cert, certs[c].key, err = pki.Issue("vigil-agent." + clusterName(c)); err != nil {
			return err
		}
	}
	gen := newGenerator()
	var results []scaleResult
	for round := 1; round <= o.rounds; round++ {
		order := append([]int(nil), o.gateways...)
		if round%2 == 0 { // ABBA: a drift of the machine's speed over the run weighs on both alike
			sort.Sort(sort.Reverse(sort.IntSlice(order)))
		}
		for _, n := range order {
			runDir := filepath.Join(dir, fmt.Sprintf("r%d-g%d", round, n))
			r, err := scaleOnce(o, runDir, round, n, pki, func(c int) (string, string) { return certs[c].cert, certs[c].key }, gen)
			if err != nil {
				return fmt.Errorf("round %d, %d gateway(s): %w", round, n, err)
			}
			printScale(r, o.clusters)
			results = append(results, r)
			_ = os.RemoveAll(runDir)
		}
	}
	fmt.Printf("\nmachine: %d CPUs (%s), %s; load average now %s\n", runtime.NumCPU(), harness.CPUModel(), runtime.Version(), harness.LoadAvg())
	fmt.Printf("load: %d clusters, each an audit log file of %d events (1-2.5 KB) tailed by its agent\n", o.clusters, o.events)
	fmt.Println("every run: each written event once in OpenSearch (distinct _id) and once in the archive (manifest event counts over all writers; vigil archive export)")
	// Overhead per round: MB per CPU-second of the first configuration ÷ that of each other.
	base := o.gateways[0]
	for _, n := range o.gateways[1:] {
		var idx, exit, eps, gwOnly, gwPerAgent []float64
		for round := 1; round <= o.rounds; round++ {
			a, b := find(results, round, base), find(results, round, n)
			if a == nil || b == nil {
				continue
			}
			idx = append(idx, perCPU(*a, a.cpuIndexed)/perCPU(*b, b.cpuIndexed))
			exit = append(exit, perCPU(*a, a.cpuExit)/perCPU(*b, b.cpuExit))
			gwOnly = append(gwOnly, perCPU(*a, a.gwCPU)/perCPU(*b, b.gwCPU))
			// The agents do the same work in both: the gateways' CPU per agent CPU-second takes
			// out the machine's speed, which moves from run to run on shared cores.
			gwPerAgent = append(gwPerAgent, (b.gwCPU/b.agentCPU)/(a.gwCPU/a.agentCPU))
			eps = append(eps, (float64(b.events)/b.wall.Seconds())/(float64(a.events)/a.wall.Seconds()))
		}
		fmt.Printf("CPU per MB, %d gateways ÷ %d, per round (to indexed): %s, median %.3f\n", n, base, fmtRatios(idx), median(idx))
		fmt.Printf("CPU per MB, %d gateways ÷ %d, per round (to exit, with the archive's last objects and seals): %s, median %.3f\n", n, base, fmtRatios(exit), median(exit))
		fmt.Printf("the gateways' CPU alone per MB, %d gateways ÷ %d, per round (to indexed): %s, median %.3f\n", n, base, fmtRatios(gwOnly), median(gwOnly))
		fmt.Printf("the gateways' CPU per agent CPU-second, %d gateways ÷ %d, per round: %s, median %.3f\n", n, base, fmtRatios(gwPerAgent), median(gwPerAgent))
		fmt.Printf("events/s, %d gateways ÷ %d, per round: %s, median %.3f\n", n, base, fmtRatios(eps), median(eps))
	}
	fmt.Printf("command: go run ./benchmarks/auditpath %s\n", strings.Join(os.Args[1:], " "))
	failed = false
	return nil
}

func find(rs []scaleResult, round, n int) *scaleResult {
	for i := range rs {
		if rs[i].round == round && rs[i].gateways == n {
			return &rs[i]
		}
	}
	return nil
}

func perCPU(r scaleResult, cpu float64) float64 { return float64(r.bytes) / 1e6 / cpu }

func fmtRatios(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, ", ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printScale(r scaleResult, clusters int) {
	mb := float64(r.bytes) / 1e6
	if r.idleGW > 0 || r.idleAgents > 0 {
		fmt.Printf("round %d, %d gateway(s), idle before the load: gateways %.3f CPU-s per s, agents %.3f\n", r.round, r.gateways, r.idleGW, r.idleAgents)
	}
	fmt.Printf("round %d, %d gateway(s) [%s → %s]: %d events, %.1f MB in %.1fs: %.0f events/s; vigil CPU-s %.1f (agents %.1f, gateways %.1f): %.1f MB per CPU-s, %.0f events per CPU-s; to exit %.1f CPU-s: %.1f MB per CPU-s; harness CPU-s %.1f; clusters per gateway %v; archive %d events in %d objects, export %d; OpenSearch re-sent %d\n",
		r.round, r.gateways, r.startLoad, r.stopLoad, r.events, mb, r.wall.Seconds(), float64(r.events)/r.wall.Seconds(),
		r.cpuIndexed, r.agentCPU, r.gwCPU, mb/r.cpuIndexed, float64(r.events)/r.cpuIndexed, r.cpuExit, mb/r.cpuExit,
		r.harnessCPU, r.perGateway, r.archived, r.archiveObjects, r.exported, r.resent)
}

func scaleOnce(o scaleOutOpts, dir string, round, n int, pki *harness.PKI, cert func(int) (string, string), gen *generator) (scaleResult, error) {
	res := scaleResult{round: round, gateways: n, perGateway: make([]int, n)}
	search, stopSearch := opensearchtest.Serve()
	defer stopSearch()
	search.Mu.Lock()
	search.Discard, search.IDs = true, map[string]int{}
	search.Mu.Unlock()
	bucket := filepath.Join(dir, "archive") // every gateway's archive exporter writes here
	var clusters strings.Builder
	for c := range o.clusters {
		fmt.Fprintf(&clusters, "      - {name: %s, subjects: [vigil-agent.%s]}\n", clusterName(c), clusterName(c))
	}
	gwOverride := func(pprofAddr string) string {
		extensions := "[bodylimit, health_check, walstorage, clusterauth, httpapi, evidence"
		cfg := fmt.Sprintf(`receivers:
  archivequery: {bucket: {directory: %q}}
exporters:
  archive: {directory: %q}
extensions:
  clusterauth:
    clusters:
`, bucket, bucket) + clusters.String()
		if pprofAddr != "" {
			cfg += fmt.Sprintf("  pprof: {endpoint: %q}\n", pprofAddr)
			extensions += ", pprof"
		}
		return cfg + "service:\n  extensions: " + extensions + "]\n"
	}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				p.stop()
			}
		}
	}()
	type gw struct {
		grpc, audit string
		p           *proc
	}
	gws := make([]gw, n)
	for i := range gws {
		var err error
		if gws[i].audit, err = harness.FreeAddr(); err != nil {
			return res, err
		}
		webhook, err := harness.FreeAddr()
		if err != nil {
			return res, err
		}
		writer := "" // one gateway: the archive without writers, as before scale-out
		if n > 1 {
			writer = fmt.Sprintf("vigil-gateway-%d", i)
		}
		name := fmt.Sprintf("gateway-%d", i)
		env := []string{"VIGIL_AUDIT_ENDPOINT=" + webhook, "VIGIL_AUDIT_OTLP_ENDPOINT=" + gws[i].audit,
			"VIGIL_OPENSEARCH_URL=" + search.URL, "VIGIL_ARCHIVE_WRITER=" + writer,
			"VIGIL_TLS_CA_FILE=" + pki.CAFile, "VIGIL_TLS_CERT_FILE=" + pki.GatewayCert, "VIGIL_TLS_KEY_FILE=" + pki.GatewayKey}
		p, err := startProc(o.vigil, name, filepath.Join(dir, name), "deploy/config/gateway.yaml", gwOverride, env, o.cpuProfile != "")
		if err != nil {
			return res, err
		}
		// startProc picked its own OTLP gRPC listener; the relay ranks gateways by that address.
		gws[i].grpc = envOf(p.cmd.Env, "VIGIL_OTLP_GRPC_ENDPOINT")
		gws[i].p = p
		procs = append(procs, p)
	}
	agents := make([]*proc, o.clusters)
	files := make([]string, o.clusters)
	for c := range agents {
		owner := 0
		for i := range gws {
			if otlprelayreceiver.RendezvousWeight(clusterName(c), gws[i].grpc) > otlprelayreceiver.RendezvousWeight(clusterName(c), gws[owner].grpc) {
				owner = i
			}
		}
		res.perGateway[owner]++
		name := "agent-" + clusterName(c)
		adir := filepath.Join(dir, name)
		files[c] = filepath.Join(adir, "audit", "audit.log")
		if err := os.MkdirAll(filepath.Dir(files[c]), 0o750); err != nil {
			return res, err
		}
		if err := os.MkdirAll(filepath.Join(adir, "pods"), 0o750); err != nil {
			return res, err
		}
		certFile, keyFile := cert(c)
		env := []string{"VIGIL_CLUSTER_NAME=" + clusterName(c), "K8S_NODE_NAME=" + clusterName(c) + "-cp-0",
			"VIGIL_AUDIT_LOG_PATH=" + files[c], "VIGIL_POD_LOGS_DIR=" + filepath.Join(adir, "pods"),
			"VIGIL_GATEWAY_ENDPOINT=" + gws[owner].grpc, "VIGIL_GATEWAY_AUDIT_ENDPOINT=" + gws[owner].audit,
			"VIGIL_TLS_CA_FILE=" + pki.CAFile, "VIGIL_TLS_CERT_FILE=" + certFile, "VIGIL_TLS_KEY_FILE=" + keyFile}
		override := func(pprofAddr string) string {
			if pprofAddr == "" {
				return ""
			}
			return fmt.Sprintf("extensions:\n  pprof: {endpoint: %q}\nservice:\n  extensions: [bodylimit, health_check, walstorage, pprof]\n", pprofAddr)
		}
		p, err := startProc(o.vigil, name, adir, "deploy/config/agent.yaml", override, env, o.cpuProfile != "")
		if err != nil {
			return res, err
		}
		agents[c] = p
		procs = append(procs, p)
	}
	if o.idle > 0 { // the fixed cost of the processes, before any event
		c0 := make([]float64, len(procs))
		for i, p := range procs {
			c0[i] = p.cpu()
		}
		time.Sleep(o.idle)
		for i, p := range procs {
			d := (p.cpu() - c0[i]) / o.idle.Seconds()
			if i < n {
				res.idleGW += d
			} else {
				res.idleAgents += d
			}
		}
	}
	var profiles sync.WaitGroup
	profErrs := make(chan error, len(procs))
	if o.cpuProfile != "" {
		for _, p := range procs {
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				path := fmt.Sprintf("%s-g%d-r%d-%s.pprof", o.cpuProfile, n, round, p.name)
				if err := harness.FetchProfile("http://"+p.pprofAddr, o.profileFor, path); err != nil {
					profErrs <- fmt.Errorf("%s: %w", p.name, err)
				}
			}()
		}
	}
	res.startLoad = time.Now().UTC().Format("15:04:05")
	cpu0 := make([]float64, len(procs))
	for i, p := range procs {
		cpu0[i] = p.cpu()
	}
	self0 := harness.SelfCPU()
	start := time.Now()

	// The load: each cluster's apiserver appends its events to its audit log, as fast as it can.
	var wg sync.WaitGroup
	writeErrs := make(chan error, o.clusters)
	sizes := make([]int64, o.clusters)
	for c := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(files[c], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
			if err != nil {
				writeErrs <- err
				return
			}
			defer f.Close()
			for b := 0; b*len(gen.events) < o.events; b++ {
				lines := gen.lines(uint64(c)<<40|uint64(b), min(len(gen.events), o.events-b*len(gen.events)))
				if _, err := f.Write(lines); err != nil {
					writeErrs <- err
					return
				}
				sizes[c] += int64(len(lines))
			}
		}()
	}
	wg.Wait()
	close(writeErrs)
	if err := <-writeErrs; err != nil {
		return res, err
	}
	res.events = int64(o.clusters * o.events)
	for _, s := range sizes {
		res.bytes += s
	}
	// Until OpenSearch has every event (distinct _id); no progress for 120 s fails the run.
	last, lastAt := -1, time.Now()
	for {
		search.Mu.Lock()
		got := len(search.IDs)
		search.Mu.Unlock()
		if int64(got) >= res.events {
			break
		}
		if got != last {
			last, lastAt = got, time.Now()
		} else if time.Since(lastAt) > 120*time.Second {
			return res, fmt.Errorf("OpenSearch has %d of %d events, no progress for 120s", got, res.events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.wall = time.Since(start)
	res.stopLoad = time.Now().UTC().Format("15:04:05")
	for i, p := range procs {
		d := p.cpu() - cpu0[i]
		res.cpuIndexed += d
		if i < n {
			res.gwCPU += d
		} else {
			res.agentCPU += d
		}
	}
	res.harnessCPU = harness.SelfCPU() - self0
	profiles.Wait()
	close(profErrs)
	if err := <-profErrs; err != nil {
		return res, err
	}
	// Stop the agents, then the gateways: on SIGTERM each archive writes its staged events and
	// seals its chains.
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
		res.cpuExit += procs[i].cpuAtExit - cpu0[i]
	}

	// Exactly once: OpenSearch.
	search.Mu.Lock()
	for _, k := range search.IDs {
		res.resent += k - 1
	}
	distinct := len(search.IDs)
	search.Mu.Unlock()
	if int64(distinct) != res.events {
		return res, fmt.Errorf("OpenSearch has %d distinct documents, %d events were written", distinct, res.events)
	}
	// The archive: every writer's manifests (raw, before the readers' merge), then the export.
	if err := checkArchive(o.vigil, bucket, o.clusters, o.events, len(gen.events), &res); err != nil {
		return res, err
	}
	return res, nil
}

func envOf(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

func checkArchive(vigil, bucket string, clusters, perCluster, perBatch int, res *scaleResult) error {
	ctx := context.Background()
	bkt, err := archive.NewFilesystemBucket(bucket)
	if err != nil {
		return err
	}
	streams, err := archive.Streams(ctx, bkt)
	if err != nil {
		return err
	}
	for _, s := range streams {
		entries, err := archive.Manifest(ctx, bkt, s)
		if err != nil {
			return fmt.Errorf("cannot read the manifest of %s: %w", s, err)
		}
		for _, e := range entries {
			res.archived += e.Events
			res.archiveObjects++
		}
	}
	if int64(res.archived) != res.events {
		return fmt.Errorf("the archive's manifests (%d streams) list %d events, %d were written", len(streams), res.archived, res.events)
	}
	out := filepath.Join(filepath.Dir(bucket), "export.ndjson")
	cmd := exec.Command(vigil, "archive", "export", `{cluster=~"bench-.*"}`, "--bucket-dir", bucket, "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vigil archive export: %w: %s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	seen := make(map[string]bool, res.events)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			AuditID string `json:"auditID"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		// auditID: 16 hex digits (cluster << 40 | batch), "-", the event's index in the batch.
		prefix, rest, _ := strings.Cut(ev.AuditID, "-")
		cb, err1 := strconv.ParseUint(prefix, 16, 64)
		i, err2 := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err1 != nil || err2 != nil || int(cb>>40) >= clusters || int(cb&(1<<40-1))*perBatch+i >= perCluster {
			return fmt.Errorf("export holds an event that was not written: %q", ev.AuditID)
		}
		if seen[ev.AuditID] {
			return fmt.Errorf("export holds %q twice", ev.AuditID)
		}
		seen[ev.AuditID] = true
	}
	if err := sc.Err(); err != nil {
		return err
	}
	res.exported = len(seen)
	if int64(len(seen)) != res.events {
		return fmt.Errorf("export holds %d events, %d were written", len(seen), res.events)
	}
	return nil
}

// lines is batch's events as audit log lines (one JSON event per line), the first n of them,
// with the batch id id.
func (g *generator) lines(id uint64, n int) []byte {
	hex := fmt.Sprintf("%016x", id)
	var buf []byte
	for i, ev := range g.events[:n] {
		start := len(buf)
		buf = append(buf, ev...)
		copy(buf[start+g.idOff[i]:], hex)
		buf = append(buf, '\n')
	}
	return buf
}
