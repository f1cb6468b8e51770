// Command otlplogs measures OTLP log forwarding through vigil: records/s and CPU-seconds per
// million records of each vigil process, for the gateway alone (mTLS/TLS + cluster identity into
// a no-op exporter) and for agent → gateway (agent with its fsync'd disk queue: the relay as
// shipped, the decoding pipeline on walstorage or on contrib file_storage, or the OpenTelemetry
// Collector peer in the agent's place).
//
//	go run ./benchmarks/otlplogs -scenario all -duration 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
)

func main() {
	var (
		vigil    = flag.String("vigil", "", "path of a vigil binary (default: build ./cmd/vigil)")
		peer     = flag.String("peer", "", "path of the OpenTelemetry Collector peer (benchmarks/peer/builder.yaml); adds the agent-gateway-peer scenario")
		scenario = flag.String("scenario", "all", "gateway | agent-gateway | agent-gateway-pipeline | agent-gateway-filestorage | agent-gateway-peer | all")
		duration = flag.Duration("duration", 20*time.Second, "length of the load phase")
		workers  = flag.Int("workers", 4, "concurrent OTLP exporters in the load generator")
		batch    = flag.Int("batch", 512, "log records per OTLP request")
		load     = flag.String("load", "uniform", "uniform: records alike, as telemetrygen's (the issue's load) | varied: access-log records that differ, with random trace ids (compress ~3×)")
		gateways = flag.Int("gateways", 1, "gateway processes behind the agent (forward::endpoints; agent scenarios of the relay)")
		signal   = flag.String("signal", "logs", "logs | traces: what the generator sends (traces: OTLP/HTTP protobuf spans, 8 per trace, random trace IDs; the relay routes them by trace ID over the gateways)")
		profile  = flag.String("cpuprofile", "", "write the CPU profile of each agent scenario's load phase to PREFIX-<scenario>.pprof for the vigil agent and PREFIX-<scenario>-gateway-N.pprof for each gateway (through the pprof extension)")
		idle     = flag.Duration("idle", 0, "before the load, measure each vigil process's CPU with no load for this long, and report the gateways' CPU-s/M also net of that idle rate (0: not measured)")
	)
	flag.Parse()
	peerBin, cpuProfile, numGateways, idleFor = *peer, *profile, max(1, *gateways), *idle
	switch *signal {
	case "logs":
	case "traces":
		tracesLoad = true
	default:
		fmt.Fprintf(os.Stderr, "otlplogs: unknown -signal %q: use logs or traces\n", *signal)
		os.Exit(2)
	}
	switch *load {
	case "uniform":
	case "varied":
		variedLoad = true
	default:
		fmt.Fprintf(os.Stderr, "otlplogs: unknown -load %q: use uniform or varied\n", *load)
		os.Exit(2)
	}
	if err := run(*vigil, *scenario, *duration, *workers, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "otlplogs:", err)
		os.Exit(1)
	}
}

// peerBin is the peer collector binary, "" when not compared; cpuProfile the -cpuprofile prefix.
var peerBin, cpuProfile string

// variedLoad is -load varied; tracesLoad -signal traces; numGateways -gateways.
var (
	variedLoad  bool
	tracesLoad  bool
	numGateways = 1
	idleFor     time.Duration
)

func run(vigil, scenario string, duration time.Duration, workers, batch int) error {
	dir, err := os.MkdirTemp("", "vigil-bench-")
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
	pki, err := harness.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	var scenarios []string
	switch scenario {
	case "all":
		scenarios = []string{"gateway", "agent-gateway", "agent-gateway-pipeline", "agent-gateway-filestorage"}
		if peerBin != "" {
			scenarios = append(scenarios, "agent-gateway-peer")
		}
	case "gateway", "agent-gateway", "agent-gateway-pipeline", "agent-gateway-filestorage", "agent-gateway-peer":
		scenarios = []string{scenario}
	default:
		return fmt.Errorf("unknown -scenario %q: use gateway, agent-gateway, agent-gateway-pipeline, agent-gateway-filestorage, agent-gateway-peer or all", scenario)
	}
	if tracesLoad && (scenario == "all" || scenario == "gateway" || scenario == "agent-gateway-peer") {
		return fmt.Errorf("-signal traces runs the relay's agent scenarios only (agent-gateway, agent-gateway-pipeline, agent-gateway-filestorage)")
	}
	var results []result
	for _, s := range scenarios {
		r, err := runScenario(vigil, filepath.Join(dir, s), pki, s, duration, workers, batch)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s, err)
		}
		results = append(results, r)
	}
	printReport(results, duration, workers, batch)
	return nil
}

type result struct {
	scenario     string
	sent         int64 // records acknowledged to the generator
	delivered    int64 // records counted by the gateway's nop exporter
	wall         time.Duration
	cpu          map[string]float64 // process -> CPU seconds during the load
	generatorCPU float64
	queueRatio   float64            // the relay's request bytes ÷ their compressed bytes in its queue (0: not the relay)
	idle         map[string]float64 // process -> CPU seconds per second with no load (-idle)
	perExport    float64            // the relay's items per export the gateways accepted (0: not the relay)
	polls        int                // polls of the gateways' /metrics while waiting for the delivery
	pollCPU      float64            // the gateways' CPU seconds per poll, with no load (-idle)
}

func runScenario(vigil, dir string, pki *harness.PKI, scenario string, duration time.Duration, workers, batch int) (result, error) {
	res := result{scenario: scenario, cpu: map[string]float64{}}
	var (
		gws      []*vigilProc
		gwPprofs []string // of each gateway, with -cpuprofile
	)
	for i := range numGateways {
		name := "gateway"
		if i > 0 {
			name = fmt.Sprintf("gateway-%d", i+1)
		}
		var gwPprof string
		if cpuProfile != "" {
			var err error
			if gwPprof, err = harness.FreeAddr(); err != nil {
				return res, err
			}
			gwPprofs = append(gwPprofs, gwPprof)
		}
		g, err := startGateway(vigil, name, filepath.Join(dir, name), pki, gwPprof)
		if err != nil {
			return res, err
		}
		defer g.stop()
		gws = append(gws, g)
	}
	gw := gws[0]
	procs := append([]*vigilProc(nil), gws...)
	var gwAddrs []string
	for _, g := range gws {
		gwAddrs = append(gwAddrs, g.grpcAddr)
	}
	accepted := func() float64 {
		name := "otelcol_receiver_accepted_log_records_total"
		if tracesLoad {
			name = "otelcol_receiver_accepted_spans_total"
		}
		sum := 0.0
		for _, g := range gws {
			n, _ := g.counter(name, `receiver="otlp"`)
			sum += n
		}
		return sum
	}
	target := loadTarget{endpoint: gw.httpAddr, tls: pki.ClientTLS(), token: pki.Token}
	var (
		pprofAddr string
		err       error
	)
	if scenario != "gateway" {
		start := func() (*vigilProc, error) {
			if scenario == "agent-gateway-peer" {
				return startPeer(peerBin, filepath.Join(dir, "peer"), pki, gw.grpcAddr)
			}
			if cpuProfile != "" {
				if pprofAddr, err = harness.FreeAddr(); err != nil {
					return nil, err
				}
			}
			mode := "relay"
			switch scenario {
			case "agent-gateway-pipeline":
				mode = "pipeline"
			case "agent-gateway-filestorage":
				mode = "filestorage"
			}
			return startAgent(vigil, filepath.Join(dir, "agent"), pki, gwAddrs, mode, pprofAddr)
		}
		ag, err := start()
		if err != nil {
			return res, err
		}
		defer ag.stop()
		procs = append([]*vigilProc{ag}, procs...)
		target = loadTarget{endpoint: ag.httpAddr}
	}
	if idleFor > 0 { // the processes' own cost with no load: timers, flushes, rule evaluation, GC
		res.idle = map[string]float64{}
		for _, p := range procs {
			res.idle[p.name] = p.cpuSeconds()
		}
		idleStart := time.Now()
		time.Sleep(idleFor)
		for _, p := range procs {
			res.idle[p.name] = (p.cpuSeconds() - res.idle[p.name]) / time.Since(idleStart).Seconds()
		}
		// What one poll of the gateways' /metrics (accepted, while waiting for the delivery)
		// costs them: 20 polls with no load.
		cpu0 := 0.0
		for _, g := range gws {
			cpu0 += g.cpuSeconds()
		}
		const polls = 20
		for range polls {
			accepted()
		}
		for _, g := range gws {
			res.pollCPU += g.cpuSeconds()
		}
		res.pollCPU = (res.pollCPU - cpu0) / polls
	}
	before := map[string]float64{}
	for _, p := range procs {
		before[p.name] = p.cpuSeconds()
	}
	deliveredBefore := accepted()
	genBefore := harness.SelfCPU()
	start := time.Now()
	profDone := make(chan error, 1+len(gwPprofs))
	if pprofAddr != "" {
		go func() {
			profDone <- harness.FetchProfile("http://"+pprofAddr, duration, cpuProfile+"-"+scenario+".pprof")
		}()
	} else {
		profDone <- nil
	}
	for i, a := range gwPprofs {
		go func() {
			profDone <- harness.FetchProfile("http://"+a, duration, fmt.Sprintf("%s-%s-gateway-%d.pprof", cpuProfile, scenario, i+1))
		}()
	}
	var sent int64
	if tracesLoad {
		sent, err = generateTraces(context.Background(), target.endpoint, duration, workers, batch)
	} else {
		sent, err = generate(context.Background(), target, duration, workers, batch)
	}
	if err != nil {
		return res, err
	}
	for range 1 + len(gwPprofs) {
		if err := <-profDone; err != nil {
			return res, err
		}
	}
	// Wait until the gateway's exporter has seen everything that was acknowledged.
	deadline := time.Now().Add(60 * time.Second)
	var delivered float64
	for {
		delivered = accepted()
		res.polls++
		if int64(delivered-deliveredBefore) >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.wall = time.Since(start)
	res.generatorCPU = harness.SelfCPU() - genBefore
	for _, p := range procs {
		res.cpu[p.name] = p.cpuSeconds() - before[p.name]
	}
	res.sent, res.delivered = sent, int64(delivered-deliveredBefore)
	if scenario == "agent-gateway" {
		sig := `signal="logs"`
		if tracesLoad {
			sig = `signal="traces"`
		}
		raw, err1 := procs[0].counter("vigil_otlprelay_received_bytes_total", sig)
		queued, err2 := procs[0].counter("vigil_otlprelay_queued_bytes_total", sig)
		if err1 == nil && err2 == nil && queued > 0 {
			res.queueRatio = raw / queued
		}
		items, err1 := procs[0].counter("vigil_otlprelay_sent_items_total", sig)
		exports, err2 := procs[0].counter("vigil_otlprelay_exports_total", sig)
		if err1 == nil && err2 == nil && exports > 0 {
			res.perExport = items / exports
		}
	}
	return res, nil
}

func printReport(results []result, duration time.Duration, workers, batch int) {
	fmt.Printf("machine: %d CPUs, %s, %s\n", runtime.NumCPU(), harness.CPUModel(), runtime.Version())
	kind := "alike (uniform)"
	if variedLoad {
		kind = "varied, random trace ids"
	}
	if tracesLoad {
		fmt.Printf("load: OTLP/HTTP protobuf spans, %d workers, %d spans/request, 8 spans per trace of random ID, %s; %d gateway(s)\n\n",
			workers, batch, duration, numGateways)
	} else {
		fmt.Printf("load: OpenTelemetry Go SDK OTLP/HTTP log exporter, %d workers, %d records/request, ~300 B records %s, %s; %d gateway(s)\n\n",
			workers, batch, kind, duration, numGateways)
	}
	fmt.Printf("%-26s %12s %12s %12s %14s %14s %14s %12s\n", "scenario", "sent", "delivered", "records/s",
		"agent CPU-s/M", "gateway CPU-s/M", "vigil CPU-s/M", "generator CPU")
	for _, r := range results {
		perM := func(cpu float64) string {
			if r.delivered == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", cpu/float64(r.delivered)*1e6)
		}
		agent := "-"
		if c, ok := r.cpu["agent"]; ok {
			agent = perM(c)
		}
		total, gateways := 0.0, 0.0
		for name, c := range r.cpu {
			total += c
			if strings.HasPrefix(name, "gateway") {
				gateways += c
			}
		}
		fmt.Printf("%-26s %12d %12d %12.0f %14s %14s %14s %11.1fs\n", r.scenario, r.sent, r.delivered,
			float64(r.delivered)/r.wall.Seconds(), agent, perM(gateways), perM(total), r.generatorCPU)
		if r.idle != nil && r.delivered > 0 {
			idleGW := 0.0
			for name, c := range r.idle {
				if strings.HasPrefix(name, "gateway") {
					idleGW += c
				}
			}
			pollGW := r.pollCPU * float64(r.polls)
			fmt.Printf("  idle (no load, %s before it): agent %.1f CPU-ms/s, gateways together %.1f CPU-ms/s; over the %.1fs of the load that is %.2f gateway CPU-s/M\n",
				idleFor, r.idle["agent"]*1e3, idleGW*1e3, r.wall.Seconds(), idleGW*r.wall.Seconds()/float64(r.delivered)*1e6)
			fmt.Printf("  delivery wait: %d polls of the gateways' /metrics, %.1f CPU-ms each (no load): %.2f gateway CPU-s/M; gateways net of idle and polls %s CPU-s/M, all vigil net %s CPU-s/M\n",
				r.polls, r.pollCPU*1e3, pollGW/float64(r.delivered)*1e6,
				perM(gateways-idleGW*r.wall.Seconds()-pollGW), perM(total-idleGW*r.wall.Seconds()-pollGW))
		}
		if r.queueRatio > 0 {
			fmt.Printf("  relay queue: requests compressed %.1f× (protobuf bytes ÷ zstd bytes on disk)\n", r.queueRatio)
		}
		if r.perExport > 0 {
			fmt.Printf("  relay exports: %.0f items per export the gateways accepted (since the agent started)\n", r.perExport)
		}
		if r.sent != r.delivered {
			fmt.Printf("  note: %d records acknowledged but %d accepted by the gateway\n", r.sent, r.delivered)
		}
	}
	fmt.Printf("\ncommand: go run ./benchmarks/otlplogs %s\n", strings.Join(os.Args[1:], " "))
}
