package clusterauthextension

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func testAuthenticator() *authenticator {
	return newAuthenticator(&Config{Clusters: []ClusterConfig{
		{Name: "a", Subjects: []string{"agent-a", "spiffe://a/agent"}, BearerTokens: []configopaque.String{"token-of-cluster-a-0001"}},
		{Name: "b", Subjects: []string{"agent-b.example"}, BearerTokens: []configopaque.String{"token-of-cluster-b-0001"}},
	}}, zap.NewNop())
}

// withPeerCert returns a context as gRPC builds it for a connection with a verified client certificate.
func withPeerCert(cert *x509.Certificate, verified bool) context.Context {
	state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	if verified {
		state.VerifiedChains = [][]*x509.Certificate{{cert}}
	}
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
}

func TestAuthenticate(t *testing.T) {
	spiffe, _ := url.Parse("spiffe://a/agent")
	tests := []struct {
		name        string
		ctx         context.Context
		headers     map[string][]string
		wantCluster string
		wantCode    codes.Code
		wantMsg     string
	}{
		{name: "certificate common name", ctx: withPeerCert(&x509.Certificate{Subject: pkix.Name{CommonName: "agent-a"}}, true), wantCluster: "a"},
		{name: "certificate DNS SAN", ctx: withPeerCert(&x509.Certificate{Subject: pkix.Name{CommonName: "x"}, DNSNames: []string{"agent-b.example"}}, true), wantCluster: "b"},
		{name: "certificate URI SAN", ctx: withPeerCert(&x509.Certificate{URIs: []*url.URL{spiffe}}, true), wantCluster: "a"},
		{name: "unverified certificate is ignored", ctx: withPeerCert(&x509.Certificate{Subject: pkix.Name{CommonName: "agent-a"}}, false),
			wantCode: codes.Unauthenticated, wantMsg: "no credential maps to a cluster"},
		{name: "unknown certificate", ctx: withPeerCert(&x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}}, true),
			wantCode: codes.Unauthenticated, wantMsg: `client certificate "CN=stranger" is not listed`},
		{name: "bearer token", ctx: context.Background(), headers: map[string][]string{"Authorization": {"Bearer token-of-cluster-b-0001"}}, wantCluster: "b"},
		{name: "lowercase grpc metadata", ctx: context.Background(), headers: map[string][]string{"authorization": {"bearer token-of-cluster-a-0001"}}, wantCluster: "a"},
		{name: "unknown token", ctx: context.Background(), headers: map[string][]string{"authorization": {"Bearer nope"}},
			wantCode: codes.Unauthenticated, wantMsg: "bearer token is not listed"},
		{name: "malformed header", ctx: context.Background(), headers: map[string][]string{"authorization": {"Basic abc"}},
			wantCode: codes.Unauthenticated, wantMsg: "malformed authorization header"},
		{name: "certificate and token disagree", ctx: withPeerCert(&x509.Certificate{Subject: pkix.Name{CommonName: "agent-a"}}, true),
			headers: map[string][]string{"authorization": {"Bearer token-of-cluster-b-0001"}}, wantCode: codes.PermissionDenied,
			wantMsg: `maps to cluster "a" but the bearer token maps to cluster "b"`},
		{name: "nothing", ctx: context.Background(), wantCode: codes.Unauthenticated, wantMsg: "no credential maps to a cluster"},
	}
	a := testAuthenticator()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := a.Authenticate(tt.ctx, tt.headers)
			if tt.wantCode != codes.OK {
				require.Error(t, err)
				require.Equal(t, tt.wantCode, status.Code(err))
				require.Contains(t, err.Error(), tt.wantMsg)
				require.NotContains(t, err.Error(), "rpc error", "HTTP servers write the error as the body of their 401: the message alone")
				require.NotContains(t, err.Error(), "token-of-cluster", "a secret must never appear in an error")
				return
			}
			require.NoError(t, err)
			info := client.FromContext(ctx)
			require.NotNil(t, info.Auth)
			require.Equal(t, tt.wantCluster, info.Auth.GetAttribute(ClusterAttribute))
		})
	}
}
