package clusterauthextension

import (
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"strings"
)

// Credentials map client-certificate identities and bearer tokens to names: clusters here,
// readers in the archive's read API. Read-only after it is built; safe for concurrent use.
type Credentials struct {
	subjects map[string]string
	tokens   []tokenEntry
}

type tokenEntry struct {
	token []byte
	name  string
}

// ErrMalformedAuthorization is returned for an Authorization header that is not "Bearer <token>".
var ErrMalformedAuthorization = errors.New(`malformed authorization header: expected "Bearer <token>"`)

// ErrUnknownToken is returned for a bearer token that maps to no name.
var ErrUnknownToken = errors.New("unknown bearer token")

// AddSubject maps a certificate identity (see Identities) to name.
func (c *Credentials) AddSubject(id, name string) {
	if c.subjects == nil {
		c.subjects = map[string]string{}
	}
	c.subjects[id] = name
}

// AddToken maps a bearer token to name.
func (c *Credentials) AddToken(token, name string) {
	c.tokens = append(c.tokens, tokenEntry{token: []byte(token), name: name})
}

// ByCertificate returns the name mapped from a (verified) certificate and the identity that
// matched; without a match, "" and the certificate's subject.
func (c *Credentials) ByCertificate(cert *x509.Certificate) (name, id string) {
	for _, id := range Identities(cert) {
		if n, ok := c.subjects[id]; ok {
			return n, id
		}
	}
	return "", cert.Subject.String()
}

// ByAuthorization returns the name of the bearer token in an Authorization header value: "" for
// an empty header, ErrMalformedAuthorization or ErrUnknownToken. Every token is compared, in
// constant time, so that timing does not reveal which one matched.
func (c *Credentials) ByAuthorization(header string) (string, error) {
	if header == "" {
		return "", nil
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return "", ErrMalformedAuthorization
	}
	var found string
	for _, e := range c.tokens {
		if subtle.ConstantTimeCompare(e.token, []byte(token)) == 1 {
			found = e.name
		}
	}
	if found == "" {
		return "", ErrUnknownToken
	}
	return found, nil
}

// Identities lists the names by which a certificate can be mapped, most specific first: the full
// subject, the common name, then DNS, URI and e-mail SANs.
func Identities(cert *x509.Certificate) []string {
	ids := []string{cert.Subject.String()}
	if cert.Subject.CommonName != "" {
		ids = append(ids, cert.Subject.CommonName)
	}
	ids = append(ids, cert.DNSNames...)
	for _, u := range cert.URIs {
		ids = append(ids, u.String())
	}
	return append(ids, cert.EmailAddresses...)
}
