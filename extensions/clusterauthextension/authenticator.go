package clusterauthextension

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ClusterAttribute is the client.Info.Auth attribute that holds the authenticated cluster name.
const ClusterAttribute = "k8s.cluster.name"

// ClusterFrom returns the cluster the authenticator put into the request's context, "" if none.
func ClusterFrom(ctx context.Context) string {
	info := client.FromContext(ctx)
	if info.Auth == nil {
		return ""
	}
	s, _ := info.Auth.GetAttribute(ClusterAttribute).(string)
	return s
}

// authenticator implements extensionauth.Server. It is safe for concurrent use: its maps are
// read-only after construction.
type authenticator struct {
	creds  Credentials
	logger *zap.Logger
}

func newAuthenticator(cfg *Config, logger *zap.Logger) *authenticator {
	a := &authenticator{logger: logger}
	for _, cl := range cfg.Clusters {
		for _, s := range cl.Subjects {
			a.creds.AddSubject(s, cl.Name)
		}
		for _, t := range cl.BearerTokens {
			a.creds.AddToken(string(t), cl.Name)
		}
	}
	return a
}

func (a *authenticator) Start(context.Context, component.Host) error { return nil }
func (a *authenticator) Shutdown(context.Context) error              { return nil }

// Authenticate derives the cluster from the client certificate (gRPC) or the bearer token, and
// returns a context whose client.Info.Auth carries it. It fails with codes.Unauthenticated when no
// credential maps to a cluster, and with codes.PermissionDenied when the certificate and the token
// map to different clusters.
func (a *authenticator) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	certCluster, certSubject := a.fromCertificate(ctx)
	tokenCluster, tokenErr := a.fromToken(headers)
	if tokenErr != nil {
		return ctx, authError{code: codes.Unauthenticated, msg: tokenErr.Error()}
	}
	if certCluster != "" && tokenCluster != "" && certCluster != tokenCluster {
		return ctx, authError{code: codes.PermissionDenied, msg: fmt.Sprintf(
			"client certificate %q maps to cluster %q but the bearer token maps to cluster %q", certSubject, certCluster, tokenCluster)}
	}
	data := authData{method: "mtls", subject: certSubject, cluster: certCluster}
	if certCluster == "" {
		if tokenCluster == "" {
			msg := "no credential maps to a cluster: present a client certificate listed under clusterauth clusters[].subjects" +
				" or a bearer token listed under clusters[].bearer_tokens"
			if certSubject != "" {
				msg = fmt.Sprintf("client certificate %q is not listed under clusterauth clusters[].subjects, and no known bearer token was sent", certSubject)
			}
			return ctx, authError{code: codes.Unauthenticated, msg: msg}
		}
		data = authData{method: "bearer_token", cluster: tokenCluster}
	}
	cl := client.FromContext(ctx)
	cl.Auth = data
	return client.NewContext(ctx, cl), nil
}

// authError is a refusal of Authenticate. Its text is the message alone, because the collector's
// HTTP servers write it as the body of their 401 as it is (an "rpc error: code = ... desc = ..."
// there would puzzle an apiserver's operator), and its gRPC status carries the code for gRPC
// clients and tests.
type authError struct {
	code codes.Code
	msg  string
}

func (e authError) Error() string { return e.msg }

// GRPCStatus returns the error as a gRPC status (status.Code and status.FromError use it).
func (e authError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// fromCertificate returns the cluster mapped from the verified peer certificate of a gRPC
// connection, and a printable subject of that certificate ("" without one).
func (a *authenticator) fromCertificate(ctx context.Context) (cluster, subject string) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return "", ""
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(tlsInfo.State.VerifiedChains) == 0 || len(tlsInfo.State.PeerCertificates) == 0 {
		return "", ""
	}
	return a.creds.ByCertificate(tlsInfo.State.PeerCertificates[0])
}

// fromToken returns the cluster of the bearer token in the headers, "" when there is none.
func (a *authenticator) fromToken(headers map[string][]string) (string, error) {
	var value string
	for k, v := range headers {
		if strings.EqualFold(k, "authorization") && len(v) > 0 {
			value = v[0]
			break
		}
	}
	cluster, err := a.creds.ByAuthorization(value)
	if errors.Is(err, ErrUnknownToken) {
		return "", errors.New("bearer token is not listed under clusterauth clusters[].bearer_tokens")
	}
	return cluster, err
}

// authData is the client.AuthData of an authenticated cluster.
type authData struct {
	method, subject, cluster string
}

func (d authData) GetAttribute(name string) any {
	switch name {
	case ClusterAttribute:
		return d.cluster
	case "auth.method":
		return d.method
	case "subject":
		return d.subject
	}
	return nil
}

func (d authData) GetAttributeNames() []string {
	return []string{ClusterAttribute, "auth.method", "subject"}
}

var _ extensionauth.Server = (*authenticator)(nil)
