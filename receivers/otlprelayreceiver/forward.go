package otlprelayreceiver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// forwarder makes OTLP/gRPC export calls whose request message is already zstd-compressed: the
// queued requests, concatenated (zstd frames concatenated are one zstd stream). grpc-go compresses
// every message it sends itself and has no way to send one compressed beforehand, so the calls
// are made as the gRPC protocol defines them over HTTP/2 (net/http): a POST to
// /<service>/Export with content-type application/grpc and grpc-encoding zstd, the message
// length-prefixed with its compressed flag set, the outcome in the grpc-status trailer. The
// gateway sees an ordinary gRPC client (mTLS, peer certificate and all).
//
// With several gateways (forward::endpoints, or every address of a dns:/// endpoint) each export
// goes to the gateway that ranks first for the routing key by rendezvous hashing among those
// not marked down (routing.go): all of an agent's data meets on one gateway, and when a gateway
// goes away only its agents move. It is safe for concurrent use.
type forwarder struct {
	cfg    *Config
	tlsCfg *tls.Config // nil: h2c
	header http.Header // of every call but grpc-timeout; copied per call
	dec    *zstd.Decoder
	router *router
}

func newForwarder(cfg *Config, onDown func(addr string, err error)) (*forwarder, error) {
	tlsCfg, err := cfg.Forward.TLS.LoadTLSConfig(context.Background())
	if err != nil {
		return nil, fmt.Errorf("forward::tls: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	f := &forwarder{cfg: cfg, tlsCfg: tlsCfg, header: http.Header{}, dec: dec}
	f.header.Set("Content-Type", "application/grpc")
	f.header.Set("Te", "trailers")
	f.header.Set("Grpc-Encoding", "zstd")
	f.header.Set("Grpc-Accept-Encoding", "zstd")
	for k, v := range cfg.Forward.Headers { // after: they replace those of the same name
		f.header.Set(k, string(v))
	}
	f.router = newRouter(cfg, f.newGateway, onDown)
	return f, nil
}

// newGateway returns the client of the gateway at addr (host:port); serverName, when not empty,
// is the name its certificate is verified against (the host of a dns:/// endpoint).
func (f *forwarder) newGateway(addr, serverName string) *gateway {
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           new(http.Protocols),
	}
	scheme := "https"
	if f.tlsCfg == nil { // tls::insecure: HTTP/2 without TLS (h2c), as grpc-go's insecure credentials
		scheme = "http"
		t.Protocols.SetUnencryptedHTTP2(true)
	} else {
		t.TLSClientConfig = f.tlsCfg.Clone()
		if t.TLSClientConfig.ServerName == "" {
			t.TLSClientConfig.ServerName = serverName
		}
		t.Protocols.SetHTTP2(true)
	}
	g := &gateway{addr: addr, client: &http.Client{Transport: t}}
	for _, s := range signals {
		g.urls[s] = scheme + "://" + addr + "/" + grpcService[s] + "/Export"
	}
	return g
}

// start resolves the gateways (a dns:/// endpoint: at once, then every resolve_interval).
func (f *forwarder) start() { f.router.start() }

func (f *forwarder) close() {
	f.router.stop()
	f.dec.Close()
}

// export calls Export of signal s's service on the gateway the router picks for s's requests
// that are not split (pickFor), with parts, a
// zstd-compressed request of size bytes. It returns the call's status (OK with the answer
// message) — a transport failure, or an HTTP answer that is not gRPC, as UNAVAILABLE — and
// whether to send again at once: the gateway failed as a gateway that is gone does (UNAVAILABLE,
// DEADLINE_EXCEEDED), it is marked down, and another gateway is up to take its share.
func (f *forwarder) export(ctx context.Context, s otlpwire.Signal, parts net.Buffers, size int) (*status.Status, []byte, bool) {
	g := f.router.pickFor(s)
	if g == nil {
		return status.New(codes.Unavailable, "no gateway address: "+f.router.lastError()), nil, false
	}
	st, answer := f.call(ctx, g, s, parts, size)
	if c := st.Code(); c == codes.Unavailable || c == codes.DeadlineExceeded {
		return st, nil, f.router.markDown(g, st.Err())
	}
	return st, answer, false
}

// call makes one export call to gateway g.
func (f *forwarder) call(ctx context.Context, g *gateway, s otlpwire.Signal, parts net.Buffers, size int) (*status.Status, []byte) {
	prefix := make([]byte, 5)
	prefix[0] = 1 // compressed, with grpc-encoding
	binary.BigEndian.PutUint32(prefix[1:], uint32(size))
	body := append(net.Buffers{prefix}, parts...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.urls[s], &body)
	if err != nil {
		return status.New(codes.Internal, err.Error()), nil
	}
	req.ContentLength = int64(5 + size)
	req.GetBody = func() (io.ReadCloser, error) { // a retry on a new connection (GOAWAY)
		b := append(net.Buffers{prefix}, parts...)
		return io.NopCloser(&b), nil
	}
	req.Header = f.header.Clone()
	if _, set := f.header["Grpc-Timeout"]; !set { // forward::headers replace it
		if d, ok := ctx.Deadline(); ok {
			req.Header.Set("Grpc-Timeout", strconv.FormatInt(max(1, time.Until(d).Milliseconds()), 10)+"m")
		}
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return status.New(codes.Unavailable, err.Error()), nil
	}
	defer resp.Body.Close()
	msg, readErr := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		return status.New(codes.Unavailable, fmt.Sprintf("the gateway answered HTTP %s, not gRPC: %.200s", resp.Status, msg)), nil
	}
	st := grpcStatus(resp.Header, resp.Trailer) // a trailers-only answer has it in the headers
	if st.Code() != codes.OK {
		return st, nil
	}
	if readErr != nil {
		return status.New(codes.Unavailable, "cannot read the gateway's answer: "+readErr.Error()), nil
	}
	if len(msg) < 5 {
		return st, nil // an empty answer
	}
	n := binary.BigEndian.Uint32(msg[1:5])
	if int(n) > len(msg)-5 {
		return st, nil // not the whole answer: the export was accepted all the same
	}
	answer := msg[5 : 5+n]
	if msg[0] == 1 {
		if answer, err = f.dec.DecodeAll(answer, nil); err != nil {
			return st, nil
		}
	}
	return st, answer
}

// grpcStatus reads grpc-status, grpc-message and grpc-status-details-bin from the trailers, or
// from the headers of a trailers-only answer.
func grpcStatus(headers, trailers http.Header) *status.Status {
	h := trailers
	if h.Get("Grpc-Status") == "" {
		h = headers
	}
	raw := h.Get("Grpc-Status")
	if raw == "" {
		return status.New(codes.Unavailable, "the gateway's answer has no grpc-status")
	}
	code, err := strconv.ParseUint(raw, 10, 16)
	if err != nil {
		return status.New(codes.Unavailable, fmt.Sprintf("the gateway's answer has grpc-status %q", raw))
	}
	msg, err := url.PathUnescape(h.Get("Grpc-Message"))
	if err != nil {
		msg = h.Get("Grpc-Message")
	}
	if details := h.Get("Grpc-Status-Details-Bin"); details != "" {
		if b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(details, "=")); err == nil {
			var p spb.Status
			if proto.Unmarshal(b, &p) == nil && p.Code == int32(code) {
				return status.FromProto(&p)
			}
		}
	}
	return status.New(codes.Code(code), msg)
}
