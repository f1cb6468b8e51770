package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// AgentCN is the common name of the agent (client) certificate.
const AgentCN = "vigil-agent.bench"

// PKI is a throw-away CA (files in a directory) with a gateway and an agent certificate, and a
// bearer token.
type PKI struct {
	CAFile, GatewayCert, GatewayKey, AgentCert, AgentKey, Token string
	Pool                                                        *x509.CertPool

	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

// NewPKI writes a new CA, certificates and token into dir.
func NewPKI(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := &PKI{CAFile: filepath.Join(dir, "ca.crt"), Pool: x509.NewCertPool(), dir: dir, caCert: caCert, caKey: caKey, serial: 1}
	p.Pool.AddCert(caCert)
	if err := writePEM(p.CAFile, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	if p.GatewayCert, p.GatewayKey, err = p.Issue("vigil-gateway"); err != nil {
		return nil, err
	}
	if p.AgentCert, p.AgentKey, err = p.Issue(AgentCN); err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	p.Token = hex.EncodeToString(tok)
	return p, nil
}

// Issue writes a new certificate and key for cn (client and server use, valid for 127.0.0.1 and
// localhost), signed by the CA, into the PKI's directory: e.g. one agent certificate per cluster.
func (p *PKI) Issue(cn string) (certFile, keyFile string, err error) {
	p.serial++
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(p.dir, cn+".crt"), filepath.Join(p.dir, cn+".key")
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePEM(keyFile, "EC PRIVATE KEY", keyDER)
}

// ClientTLS trusts the bench CA and presents the agent certificate, which the gateway's listeners
// require; over OTLP/HTTP the cluster comes from the bearer token.
func (p *PKI) ClientTLS() *tls.Config {
	pair, err := tls.LoadX509KeyPair(p.AgentCert, p.AgentKey)
	if err != nil {
		panic(err) // written by NewPKI a moment ago
	}
	return &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
