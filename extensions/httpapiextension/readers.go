package httpapiextension

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
)

// Reader is a read-only identity of the API port and its credentials.
type Reader struct {
	// Name identifies the reader (in the archive's query audit records).
	Name string `mapstructure:"name"`
	// Subjects are client-certificate identities (full subject, common name, DNS/URI/e-mail SAN).
	Subjects []string `mapstructure:"subjects"`
	// BearerTokens are tokens (at least 16 characters) sent as "Authorization: Bearer <token>".
	BearerTokens []configopaque.String `mapstructure:"bearer_tokens"`
	_            struct{}
}

// ValidateReaders reports every problem of a readers list at once; setting names the list.
func ValidateReaders(setting string, readers []Reader) []error {
	var errs []error
	names, subjects, tokens := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, r := range readers {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("%s[%d].name: must be set", setting, i))
		case names[r.Name]:
			errs = append(errs, fmt.Errorf("%s[%d].name: %q is listed twice", setting, i, r.Name))
		}
		names[r.Name] = true
		if len(r.Subjects) == 0 && len(r.BearerTokens) == 0 {
			errs = append(errs, fmt.Errorf("%s[%d] (%s): needs subjects or bearer_tokens", setting, i, r.Name))
		}
		for _, s := range r.Subjects {
			if subjects[s] {
				errs = append(errs, fmt.Errorf("%s[%d].subjects: %q is listed twice", setting, i, s))
			}
			subjects[s] = true
		}
		for j, t := range r.BearerTokens {
			if len(t) < 16 {
				errs = append(errs, fmt.Errorf("%s[%d].bearer_tokens[%d]: shorter than 16 characters", setting, i, j))
			}
			if tokens[string(t)] {
				errs = append(errs, fmt.Errorf("%s[%d].bearer_tokens[%d]: listed twice", setting, i, j))
			}
			tokens[string(t)] = true
		}
	}
	return errs
}

// ErrUnauthenticated is wrapped by the errors of Readers.Identify; it is answered with 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// Readers are the identities allowed to read from a server. The zero value has none. Safe for
// concurrent use.
type Readers struct {
	mu    sync.RWMutex
	creds clusterauthextension.Credentials
	n     int
}

// Add adds readers.
func (rs *Readers) Add(readers []Reader) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, rd := range readers {
		for _, s := range rd.Subjects {
			rs.creds.AddSubject(s, rd.Name)
		}
		for _, t := range rd.BearerTokens {
			rs.creds.AddToken(string(t), rd.Name)
		}
		rs.n++
	}
}

// Len is the number of readers.
func (rs *Readers) Len() int {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.n
}

// Identify returns the reader of a request: its verified client certificate or its bearer token.
// Without readers a request is "anonymous" when anonymous is true (a loopback endpoint), else
// refused. Every error wraps ErrUnauthenticated and names the setting to change.
func (rs *Readers) Identify(req *http.Request, anonymous bool, endpoint string) (string, error) {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	certReader := ""
	if req.TLS != nil && len(req.TLS.VerifiedChains) > 0 && len(req.TLS.PeerCertificates) > 0 {
		certReader, _ = rs.creds.ByCertificate(req.TLS.PeerCertificates[0])
	}
	tokenReader, err := rs.creds.ByAuthorization(req.Header.Get("Authorization"))
	switch {
	case errors.Is(err, clusterauthextension.ErrUnknownToken):
		return "", fmt.Errorf("%w: the bearer token is not one of the readers' bearer_tokens", ErrUnauthenticated)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	switch {
	case certReader != "" && tokenReader != "" && certReader != tokenReader:
		return "", fmt.Errorf("%w: the client certificate and the bearer token name different readers", ErrUnauthenticated)
	case certReader != "":
		return certReader, nil
	case tokenReader != "":
		return tokenReader, nil
	case rs.n == 0 && anonymous:
		return "anonymous", nil
	case rs.n == 0:
		return "", fmt.Errorf("%w: %s is not a loopback address and no readers are configured (httpapi readers, or archivequery readers): anonymous reads are local only",
			ErrUnauthenticated, endpoint)
	}
	return "", fmt.Errorf("%w: send a reader's bearer token or client certificate (readers)", ErrUnauthenticated)
}

// Guard serves h to the requests rs identifies (Identify; anonymous only on a loopback
// endpoint), with the reader in the request's context (ReaderFrom), and refuses the others.
func (rs *Readers) Guard(endpoint string, h http.Handler) http.Handler {
	anonymous := Loopback(endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		reader, err := rs.Identify(req, anonymous, endpoint)
		if err != nil {
			Refuse(w, err)
			return
		}
		h.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), readerKey{}, reader)))
	})
}

// Refuse answers an unauthenticated request: 401 with a Bearer challenge.
func Refuse(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	http.Error(w, err.Error(), http.StatusUnauthorized)
}

type readerKey struct{}

// ReaderFrom returns the reader the API port authenticated a request as; false for a request
// that did not come through the API port.
func ReaderFrom(ctx context.Context) (string, bool) {
	name, ok := ctx.Value(readerKey{}).(string)
	return name, ok
}

// WarnPlainTokens logs a warning when bearer tokens are accepted over plain HTTP on an address
// beyond loopback: anyone on the path can read them. setting names the server for the message.
func WarnPlainTokens(logger *zap.Logger, endpoint string, tls bool, readers []Reader, setting string) {
	if tls || Loopback(endpoint) {
		return
	}
	for _, r := range readers {
		if len(r.BearerTokens) > 0 {
			logger.Warn("bearer tokens are accepted over plain HTTP on an address beyond loopback: anyone on the network path can read and replay them; configure tls on "+setting,
				zap.String("endpoint", endpoint), zap.String("reader", r.Name))
			return
		}
	}
}
