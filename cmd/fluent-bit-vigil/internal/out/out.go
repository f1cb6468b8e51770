package out

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/internal/fluentk8s"
)

// Result is what a flush answers Fluent Bit.
type Result int

// Results; cmd/fluent-bit-vigil maps them to FLB_OK, FLB_RETRY and FLB_ERROR.
const (
	OK    Result = iota // vigil acknowledged every record that can be sent
	Retry               // push-back or unreachable: Fluent Bit keeps the chunk and retries it
	Error               // the chunk can never be sent (undecodable, refused as invalid or forbidden)
)

func (r Result) String() string {
	return [...]string{"OK", "RETRY", "ERROR"}[r]
}

const (
	scopeName = "github.com/vigil-obs/vigil/cmd/fluent-bit-vigil"
	attrTag   = "fluent.tag" // as the fluent_forward receiver names it
)

// Event is one decoded Fluent Bit record: its event time and its map.
type Event struct {
	Time   time.Time
	Record any
}

// Output sends flushes to vigil. Flush is safe for concurrent use (Fluent Bit's workers).
type Output struct {
	cfg    Config
	mapper *fluentk8s.Mapper
	conn   *grpc.ClientConn
	client plogotlp.GRPCClient
	logf   func(format string, args ...any)
}

// New connects lazily to cfg.Endpoint; logf receives the plugin's messages (never a secret).
func New(cfg Config, logf func(format string, args ...any)) (*Output, error) {
	creds := insecure.NewCredentials()
	if cfg.TLS {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if cfg.Compress == "gzip" {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
	}
	conn, err := grpc.NewClient(cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the OTLP/gRPC client of %s: %w", cfg.Endpoint, err)
	}
	return &Output{cfg: cfg, mapper: fluentk8s.New(cfg.Labels), conn: conn, client: plogotlp.NewGRPCClient(conn), logf: logf}, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !cfg.TLSVerify} //nolint:gosec // tls.verify off is the user's explicit choice
	if cfg.ServerName != "" {
		tc.ServerName = cfg.ServerName
	} else if host, _, err := net.SplitHostPort(cfg.Endpoint); err == nil {
		tc.ServerName = host
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: cannot read: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.crt_file, tls.key_file: cannot load: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Logs builds the OTLP logs of one flush: one resource per container identity. It returns how
// many events were not maps (they cannot be sent).
func (o *Output) Logs(tag string, events []Event) (plog.Logs, int) {
	ld := plog.NewLogs()
	byKey := map[string]plog.LogRecordSlice{}
	now := pcommon.NewTimestampFromTime(time.Now())
	bad := 0
	for _, e := range events {
		rec, ok := o.mapper.Map(e.Record)
		if !ok {
			bad++
			continue
		}
		key := rec.Key()
		lrs, ok := byKey[key]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			rec.PutResource(rl.Resource().Attributes())
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(scopeName)
			lrs = sl.LogRecords()
			byKey[key] = lrs
		}
		lr := lrs.AppendEmpty()
		if !e.Time.IsZero() {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
		}
		lr.SetObservedTimestamp(now)
		lr.Attributes().PutStr(attrTag, tag)
		rec.Fill(lr)
	}
	return ld, bad
}

// Flush sends one chunk of events; undecodable counts the records of the chunk that could not be
// decoded. It blocks until vigil answered or cfg.Timeout passed.
func (o *Output) Flush(ctx context.Context, tag string, events []Event, undecodable int) Result {
	ld, bad := o.Logs(tag, events)
	bad += undecodable
	if bad > 0 {
		o.logf("[out_vigil] %d record(s) of tag %q are not maps and cannot be sent; dropped", bad, tag)
	}
	if ld.LogRecordCount() == 0 {
		if bad > 0 {
			return Error
		}
		return OK
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	if o.cfg.BearerToken != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.cfg.BearerToken)
	}
	resp, err := o.client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	if err != nil {
		r := Classify(err)
		o.logf("[out_vigil] export of %d record(s) to %s: %s (%v)", ld.LogRecordCount(), o.cfg.Endpoint, r, status.Convert(err).Message())
		return r
	}
	if ps := resp.PartialSuccess(); ps.RejectedLogRecords() > 0 {
		o.logf("[out_vigil] vigil refused %d of %d record(s): %s", ps.RejectedLogRecords(), ld.LogRecordCount(), ps.ErrorMessage())
	}
	return OK
}

// Classify maps an export error to the answer: codes that a later try can succeed with (push-back,
// unreachable, timeouts, credentials not accepted yet) retry; the others are final.
func Classify(err error) Result {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Retry
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Canceled,
		codes.Internal, codes.Unknown, codes.Unauthenticated, codes.DataLoss:
		return Retry
	default: // InvalidArgument, PermissionDenied (a cluster claim refused), Unimplemented, ...
		return Error
	}
}

// Close closes the connection.
func (o *Output) Close() error { return o.conn.Close() }
