package otlprelayreceiver

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestPartialSuccess(t *testing.T) {
	resp := plogotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedLogRecords(3)
	resp.PartialSuccess().SetErrorMessage("3 records too old")
	b, err := resp.MarshalProto()
	require.NoError(t, err)
	n, msg := partialSuccess(b)
	require.Equal(t, int64(3), n)
	require.Equal(t, "3 records too old", msg)

	n, msg = partialSuccess(nil)
	require.Zero(t, n, "an empty answer is a full success")
	require.Empty(t, msg)
	n, _ = partialSuccess([]byte{0x0a, 0x05, 0x08}) // cut short
	require.Zero(t, n)
}

func TestGRPCStatusFromTrailers(t *testing.T) {
	st, err := status.New(codes.ResourceExhausted, "queue full").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(7 * time.Second)})
	require.NoError(t, err)
	details, err := proto.Marshal(st.Proto())
	require.NoError(t, err)
	trailers := http.Header{}
	trailers.Set("Grpc-Status", "8")
	trailers.Set("Grpc-Message", "queue%20full")
	trailers.Set("Grpc-Status-Details-Bin", base64.RawStdEncoding.EncodeToString(details))
	got := grpcStatus(http.Header{}, trailers)
	require.Equal(t, codes.ResourceExhausted, got.Code())
	require.Equal(t, "queue full", got.Message())
	require.Equal(t, 7*time.Second, retryDelay(got))

	headers := http.Header{} // a trailers-only answer
	headers.Set("Grpc-Status", "7")
	headers.Set("Grpc-Message", "cluster%20mismatch")
	got = grpcStatus(headers, http.Header{})
	require.Equal(t, codes.PermissionDenied, got.Code())
	require.True(t, permanent(got))

	require.Equal(t, codes.Unavailable, grpcStatus(http.Header{}, http.Header{}).Code(), "no status: retried")
	require.False(t, permanent(status.New(codes.Unauthenticated, "no")), "credentials are fixed by fixing them: retried")
	require.False(t, permanent(status.New(codes.ResourceExhausted, "durable queue is full")), "the gateway's queue full: retried")
	require.True(t, permanent(status.New(codes.ResourceExhausted,
		"grpc: received message after decompression larger than max (17825792 vs. 16777216)")), "over the gateway's limit: never fits")
}

// TestRefusalStatus: a refusal's gRPC status is status.New with, for the codes a client should
// retry, a RetryInfo of retry_after — the same bytes as WithDetails makes.
func TestRefusalStatus(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.RetryAfter = 2500 * time.Millisecond
	r, err := newRelay(receivertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.Equal(t, "3", r.retryAfter)
	for _, code := range []codes.Code{codes.InvalidArgument, codes.ResourceExhausted, codes.Unavailable} {
		ref := &refusal{code: code, err: errors.New("no")}
		want := status.New(code, "no")
		if code != codes.InvalidArgument {
			want, err = want.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(cfg.RetryAfter)})
			require.NoError(t, err)
		}
		for range 2 { // the same every time
			got := r.grpcStatus(ref)
			opts := proto.MarshalOptions{Deterministic: true}
			wantBytes, err := opts.Marshal(want.Proto())
			require.NoError(t, err)
			gotBytes, err := opts.Marshal(got.Proto())
			require.NoError(t, err)
			require.Equal(t, wantBytes, gotBytes, code)
		}
	}
}
