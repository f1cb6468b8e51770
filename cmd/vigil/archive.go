package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/thanos-io/objstore"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/exporters/archiveexporter"
	"github.com/vigil-obs/vigil/internal/collectorcli"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/archivequery"
)

// archiveFlags choose the bucket and the time range of every `vigil archive` command.
type archiveFlags struct {
	configs    []string
	exporter   string
	dir        string
	s3Bucket   string
	s3Endpoint string
	s3Region   string
	s3Insecure bool
	from, to   string
}

// Environment variables holding S3 credentials for `vigil archive` (never flags: flags show in ps).
const (
	envS3AccessKey = "VIGIL_S3_ACCESS_KEY"
	envS3SecretKey = "VIGIL_S3_SECRET_KEY" //nolint:gosec // the name of the variable, not a secret
)

func newArchiveCommand() *cobra.Command {
	a := &archiveFlags{}
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Query, verify and export the tamper-evident audit archive",
		Long: `Query, verify and export the tamper-evident audit archive (storage/docs/archive-format.md).

The bucket: with no bucket flags, the all-in-one archive under the data directory
(<data-dir>/archive; --data-dir, $VIGIL_DATA_DIR, else ./data). With --config, the bucket of the
archive exporter in that vigil configuration. Or name one: --bucket-dir DIR, or --s3-bucket with
--s3-endpoint (credentials from $` + envS3AccessKey + ` and $` + envS3SecretKey + `, or $AWS_ACCESS_KEY_ID
and $AWS_SECRET_ACCESS_KEY).

Times (--from, --to) are RFC 3339 (2026-11-22T10:00:00Z), a date (2026-11-22, UTC midnight),
or a duration before now (90m, 24h, 7d, 2w).`,
		// The archive commands read; they must not create the data directory like the collector does.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		Args:              cobra.NoArgs, // an unknown subcommand ("vigil archive qurey") is an error, not help
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f := cmd.PersistentFlags()
	f.StringArrayVar(&a.configs, "config", nil, "read the bucket from the archive exporter of this vigil configuration (repeatable, merged as by vigil)")
	f.StringVar(&a.exporter, "exporter", "", "the archive exporter of --config to use, e.g. archive/eu (default: the only one)")
	f.StringVar(&a.dir, "bucket-dir", "", "a filesystem bucket directory (default <data-dir>/archive)")
	f.StringVar(&a.s3Bucket, "s3-bucket", "", "an S3 bucket")
	f.StringVar(&a.s3Endpoint, "s3-endpoint", "", "the S3 endpoint, e.g. s3.eu-west-1.amazonaws.com or 127.0.0.1:9000")
	f.StringVar(&a.s3Region, "s3-region", "", "the S3 region")
	f.BoolVar(&a.s3Insecure, "s3-insecure", false, "use http instead of https for S3")
	f.StringVar(&a.from, "from", "", "start of the time range, inclusive (default: the beginning of the archive)")
	f.StringVar(&a.to, "to", "", "end of the time range, exclusive (default: now)")
	cmd.AddCommand(newArchiveQueryCommand(a), newArchiveVerifyCommand(a), newArchiveExportCommand(a))
	return cmd
}

// bucket opens the bucket the flags name.
func (a *archiveFlags) bucket(cmd *cobra.Command) (objstore.Bucket, string, error) {
	named := 0
	for _, set := range []bool{len(a.configs) > 0, a.dir != "", a.s3Bucket != ""} {
		if set {
			named++
		}
	}
	if named > 1 {
		return nil, "", errors.New("cannot choose the bucket: give one of --config, --bucket-dir and --s3-bucket")
	}
	var cfg *archive.BucketConfig
	var err error
	switch {
	case len(a.configs) > 0:
		ecfg, err := a.exporterConfig()
		if err != nil {
			return nil, "", err
		}
		cfg = &ecfg.BucketConfig
	case a.s3Bucket != "":
		if a.s3Endpoint == "" {
			return nil, "", errors.New("--s3-endpoint: must be set with --s3-bucket, e.g. s3.eu-west-1.amazonaws.com")
		}
		cfg = &archive.BucketConfig{S3: &archive.S3Config{Bucket: a.s3Bucket, Endpoint: a.s3Endpoint,
			Region: a.s3Region, Insecure: a.s3Insecure, AccessKey: firstEnv(envS3AccessKey, "AWS_ACCESS_KEY_ID"),
			SecretKey: configopaque.String(firstEnv(envS3SecretKey, "AWS_SECRET_ACCESS_KEY"))}}
	default:
		dir := a.dir
		if dir == "" {
			dataDir, _ := cmd.Flags().GetString("data-dir")
			if dataDir == "" {
				dataDir = os.Getenv(collectorcli.DataDirEnv)
			}
			if dataDir == "" {
				dataDir = "data"
			}
			dir = filepath.Join(dataDir, "archive")
		}
		if _, err := os.Stat(dir); err != nil {
			return nil, "", fmt.Errorf("cannot open the archive directory %q (--bucket-dir, or --data-dir/%s + /archive): %w", dir, collectorcli.DataDirEnv, err)
		}
		cfg = &archive.BucketConfig{Directory: dir}
	}
	bkt, err := cfg.OpenBucket()
	if err != nil {
		return nil, "", err
	}
	return bkt, cfg.Describe(), nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// exporterConfig resolves --config as vigil does and returns the archive exporter's settings.
func (a *archiveFlags) exporterConfig() (*archiveexporter.Config, error) {
	rs := collectorSettings().ConfigProviderSettings.ResolverSettings
	rs.URIs = a.configs
	rs.ConverterFactories = nil // only the archive exporter's bucket is read: the API port is not checked here
	conf, err := collectorcli.ResolveConfig(rs)
	if err != nil {
		return nil, fmt.Errorf("cannot read --config: %w", err)
	}
	exporters, err := conf.Sub("exporters")
	if err != nil {
		return nil, fmt.Errorf("cannot read the exporters of --config: %w", err)
	}
	var found []string
	for name := range exporters.ToStringMap() {
		if typ, _, _ := strings.Cut(name, "/"); typ == "archive" && (a.exporter == "" || a.exporter == name) {
			found = append(found, name)
		}
	}
	switch {
	case len(found) == 0 && a.exporter != "":
		return nil, fmt.Errorf("--exporter: no exporter %q in --config", a.exporter)
	case len(found) == 0:
		return nil, errors.New("--config: the configuration has no archive exporter")
	case len(found) > 1:
		return nil, fmt.Errorf("--exporter: the configuration has several archive exporters (%s); name one", strings.Join(found, ", "))
	}
	sub, err := exporters.Sub(found[0])
	if err != nil {
		return nil, err
	}
	cfg := archiveexporter.NewFactory().CreateDefaultConfig().(*archiveexporter.Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, fmt.Errorf("cannot read exporter %q of --config: %w", found[0], err)
	}
	if cfg.Directory == "" && cfg.S3 == nil {
		return nil, fmt.Errorf("exporter %q of --config names no bucket (directory or s3)", found[0])
	}
	return cfg, nil
}

// timeRange parses --from and --to against now.
func (a *archiveFlags) timeRange(now time.Time) (from, to time.Time, err error) {
	if from, err = parseTime(a.from, now); err != nil {
		return from, to, fmt.Errorf("--from: %w", err)
	}
	if to, err = parseTime(a.to, now); err != nil {
		return from, to, fmt.Errorf("--to: %w", err)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, fmt.Errorf("--from (%s) must be before --to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

var relativeRE = regexp.MustCompile(`^(\d+)([dw])$`)

// parseTime reads an RFC 3339 time, a date (UTC) or a duration before now; "" is the zero time.
func parseTime(s string, now time.Time) (time.Time, error) {
	switch s {
	case "":
		return time.Time{}, nil
	case "now":
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if m := relativeRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		days := map[string]int{"d": 1, "w": 7}[m[2]]
		return now.AddDate(0, 0, -n*days).UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-22T10:00:00Z), a date (2026-11-22) or a duration before now (24h, 7d)", s)
}

// runQuery runs q over the flags' bucket and time range (set into q), with a progress bar on a
// terminal and warnings on stderr. It returns the results, the stats and the bucket's description.
func (a *archiveFlags) runQuery(cmd *cobra.Command, q *archivequery.Query, what string) ([]archivequery.Result, archivequery.Stats, string, error) {
	var err error
	if q.From, q.To, err = a.timeRange(time.Now()); err != nil {
		return nil, archivequery.Stats{}, "", err
	}
	bkt, where, err := a.bucket(cmd)
	if err != nil {
		return nil, archivequery.Stats{}, "", err
	}
	defer bkt.Close()
	stderr := cmd.ErrOrStderr()
	eng := &archivequery.Engine{Bucket: bkt, Warn: func(err error) { fmt.Fprintln(stderr, "warning:", err) }}
	bar := newProgress(stderr, what)
	if bar != nil {
		eng.Progress = bar
	}
	results, st, err := eng.Run(cmd.Context(), *q)
	bar.finish()
	if err == nil && !st.Intact() {
		fmt.Fprintf(stderr, "warning: the archive %s is not intact where this query read; the results hold the events of the intact objects only:\n", where)
		for _, p := range st.Problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
	}
	return results, st, where, err
}

// exitNotIntact is the exit code of `vigil archive query` and `vigil archive export` when the
// archive they read is not intact where they read (they still wrote the events of the intact
// objects); any other failure exits 1.
const exitNotIntact = 3

// notIntactError is returned by query and export, after their output, when the archive is not
// intact where they read; main exits with exitNotIntact.
type notIntactError struct{ problems int }

func (e *notIntactError) Error() string {
	return fmt.Sprintf("the archive is not intact: %d problems where this query read (listed above; exit code %d); "+
		"the results hold the events of the intact objects only; run vigil archive verify", e.problems, exitNotIntact)
}

// intact returns a *notIntactError when the query found problems.
func intact(st archivequery.Stats) error {
	if st.Intact() {
		return nil
	}
	return &notIntactError{problems: len(st.Problems)}
}
