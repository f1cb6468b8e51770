package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-obs/vigil/storage/archive"
)

// verifyReport is the JSON output of `vigil archive verify`.
type verifyReport struct {
	Bucket   string         `json:"bucket"`
	From     string         `json:"from,omitempty"`
	To       string         `json:"to,omitempty"`
	OK       bool           `json:"ok"`
	Problems int            `json:"problems"`
	Streams  []streamReport `json:"streams"`
}

type streamReport struct {
	Tenant  string `json:"tenant"`
	Cluster string `json:"cluster"`
	Writer  string `json:"writer,omitempty"` // one of the gateway replicas that archive the cluster (empty: a single writer)
	archive.Report
}

func newArchiveVerifyCommand(a *archiveFlags) *cobra.Command {
	var clusters, anchors []string
	var tenant, output, sealKey, anchorsFrom string
	var anchorsLookback, lateAfter time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check every object's checksum and the manifests' hash chains",
		Long: `Check the archive: each stream's manifest hash chain (always whole), and the SHA-256 of
every object with events in --from/--to against its manifest entry; objects no entry lists are
reported as inserted. A cluster that several gateway replicas archive has a chain per writer
(tenant/cluster/writer), each checked. Seals (written by vigil beside each manifest) and --anchor values (recorded
outside the bucket, or read with --anchors-from from a Prometheus that scrapes vigil) show a
chain whose newest entries were cut off. Each problem names its kind (missing, modified, reordered, inserted,
manifest_gap, manifest_modified, manifest_unreadable, chain_broken, manifest_name, index_missing,
index_modified, truncated, seal_mismatch, seal_signature, seal_unreadable), the object,
the manifest entry and the expected and actual hashes. Exits non-zero on any problem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			from, to, err := a.timeRange(time.Now())
			if err != nil {
				return err
			}
			bkt, where, err := a.bucket(cmd)
			if err != nil {
				return err
			}
			defer bkt.Close()
			streams, err := archive.Streams(cmd.Context(), bkt)
			if err != nil {
				return err
			}
			rep := verifyReport{Bucket: where, OK: true}
			if !from.IsZero() {
				rep.From = from.Format(time.RFC3339Nano)
			}
			if !to.IsZero() {
				rep.To = to.Format(time.RFC3339Nano)
			}
			bar := newProgress(cmd.ErrOrStderr(), "verifying")
			opts := archive.VerifyOptions{From: from, To: to, LateAfter: lateAfter}
			if sealKey != "" {
				if opts.SealKey, err = archive.LoadPublicKey(sealKey); err != nil {
					return fmt.Errorf("--seal-public-key: %w", err)
				}
			}
			for _, a := range anchors {
				seal, err := parseAnchor(a)
				if err != nil {
					return err
				}
				opts.Anchors = append(opts.Anchors, seal)
			}
			if anchorsFrom != "" {
				scraped, err := prometheusAnchors(cmd.Context(), anchorsFrom, anchorsLookback)
				if err != nil {
					return fmt.Errorf("--anchors-from: %w", err)
				}
				if len(scraped) == 0 {
					return fmt.Errorf("--anchors-from: %s has no %s series in the last %s: is it scraping vigil's /metrics?",
						anchorsFrom, sealedEntryMetric, anchorsLookback)
				}
				opts.Anchors = append(opts.Anchors, scraped...)
			}
			if bar != nil {
				opts.Progress = bar
			}
			for _, s := range streams {
				if (tenant != "" && s.Tenant != tenant) || (len(clusters) > 0 && !contains(clusters, s.Cluster)) {
					continue
				}
				r, err := archive.VerifyRange(cmd.Context(), bkt, s, opts)
				if err != nil {
					bar.finish()
					return err
				}
				if r.Problems == nil {
					r.Problems = []archive.Problem{}
				}
				rep.Streams = append(rep.Streams, streamReport{Tenant: s.Tenant, Cluster: s.Cluster, Writer: s.Writer, Report: r})
				rep.Problems += len(r.Problems)
			}
			bar.finish()
			rep.OK = rep.Problems == 0
			if output == "json" {
				err = writeJSON(cmd.OutOrStdout(), rep)
			} else {
				err = writeVerifyText(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			if len(rep.Streams) == 0 {
				return fmt.Errorf("no archive streams to verify in %s (check the bucket, --tenant and --cluster)", where)
			}
			if !rep.OK {
				return fmt.Errorf("the archive failed verification: %d problems", rep.Problems)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&clusters, "cluster", nil, "verify only this cluster's streams, every writer's (repeatable)")
	cmd.Flags().StringVar(&tenant, "tenant", "", "verify only this tenant's streams")
	cmd.Flags().StringVar(&sealKey, "seal-public-key", "", "every seal must be signed by this Ed25519 public key (PEM; the archive exporter's seal_key_file's public half)")
	cmd.Flags().StringArrayVar(&anchors, "anchor", nil, "a seal recorded outside the bucket, TENANT/CLUSTER[/WRITER]:SEQ:HASH (from vigil's \"archive chain sealed\" log lines), or TENANT/CLUSTER[/WRITER]:SEQ; WRITER for a writer's chain; repeatable")
	cmd.Flags().StringVar(&anchorsFrom, "anchors-from", "", "a Prometheus that scrapes the gateways (http://prometheus:9090): every chain must reach the highest "+sealedEntryMetric+" it recorded")
	cmd.Flags().DurationVar(&anchorsLookback, "anchors-lookback", 90*24*time.Hour, "how far back --anchors-from looks (at most the Prometheus's retention)")
	cmd.Flags().DurationVar(&lateAfter, "late-after", time.Hour, "list the objects whose events are dated more than this before vigil received them (backdated or delayed; 0: do not list)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeVerifyText(w io.Writer, rep verifyReport) error {
	for _, s := range rep.Streams {
		status := "OK"
		if len(s.Problems) > 0 {
			status = fmt.Sprintf("%d PROBLEMS", len(s.Problems))
		}
		name := archive.Stream{Tenant: s.Tenant, Cluster: s.Cluster, Writer: s.Writer}.String()
		line := fmt.Sprintf("%s: %d manifest entries, %d objects checked (%.1f MB)", name, s.Entries, s.Objects, float64(s.Bytes)/1e6)
		if s.Skipped > 0 {
			line += fmt.Sprintf(", %d outside the time range", s.Skipped)
		}
		if _, err := fmt.Fprintf(w, "%s: %s\n", line, status); err != nil {
			return err
		}
		for _, l := range s.Late {
			fmt.Fprintf(w, "  note: %d events dated from %s, received from %s (%s, seq %d)\n", l.Events, l.First, l.ReceivedFirst, l.Object, l.Seq)
		}
		for _, p := range s.Problems {
			fmt.Fprintf(w, "  %s\n", p.Kind)
			if p.Object != "" {
				fmt.Fprintf(w, "    object:   %s\n", p.Object)
			}
			if p.Manifest != "" {
				fmt.Fprintf(w, "    manifest: %s (seq %d)\n", p.Manifest, p.Seq)
			}
			if p.Expected != "" {
				fmt.Fprintf(w, "    expected: %s\n", p.Expected)
			}
			if p.Actual != "" {
				fmt.Fprintf(w, "    actual:   %s\n", p.Actual)
			}
		}
	}
	if rep.OK {
		_, err := fmt.Fprintf(w, "archive %s: verified, no problems\n", rep.Bucket)
		return err
	}
	_, err := fmt.Fprintf(w, "archive %s: %d problems\n", rep.Bucket, rep.Problems)
	return err
}

// parseAnchor reads TENANT/CLUSTER:SEQ:HASH, or TENANT/CLUSTER:SEQ (the chain reached SEQ); with
// /WRITER after the cluster, of that writer's chain.
func parseAnchor(s string) (archive.Seal, error) {
	bad := fmt.Errorf("--anchor: %q is not TENANT/CLUSTER:SEQ:HASH or TENANT/CLUSTER:SEQ, with /WRITER after CLUSTER for a writer's chain (e.g. default/prod-eu:1234:<64 hex digits>, default/prod-eu/vigil-gateway-1:1234)", s)
	streamPart, rest, ok := strings.Cut(s, ":")
	tenant, cluster, ok2 := strings.Cut(streamPart, "/")
	cluster, writer, withWriter := strings.Cut(cluster, "/")
	seqPart, hash, withHash := strings.Cut(rest, ":")
	seq, err := strconv.ParseUint(seqPart, 10, 64)
	if !ok || !ok2 || err != nil || (withHash && len(hash) != 64) || tenant == "" || cluster == "" ||
		(withWriter && (writer == "" || !archive.ValidWriter(writer))) {
		return archive.Seal{}, bad
	}
	return archive.Seal{Tenant: tenant, Cluster: cluster, Writer: writer, Seq: seq, Hash: hash}, nil
}
