package out

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/vigil-obs/vigil/internal/fluentk8s"
)

// Config is the plugin's [OUTPUT] section. Keys are Fluent Bit's (case-insensitive there).
type Config struct {
	Endpoint    string        // Endpoint: host:port of vigil's OTLP/gRPC receiver (agent or gateway). Required.
	TLS         bool          // TLS: on (default) or off.
	TLSVerify   bool          // tls.verify: check the server's certificate (default on).
	CAFile      string        // tls.ca_file: CA of the server's certificate (default: the system's).
	CertFile    string        // tls.crt_file: client certificate (mTLS: the cluster is its subject's).
	KeyFile     string        // tls.key_file: its key.
	ServerName  string        // tls.vhost: the name checked in the server's certificate (default: Endpoint's host).
	BearerToken string        // Bearer_Token: sent as "authorization: Bearer <token>" (the gateway's clusterauth). Never logged.
	Timeout     time.Duration // Timeout: bound of one export call (default 30s).
	Compress    string        // Compress: gzip or "" (default none).
	Labels      []string      // Pod_Labels: comma-separated pod label keys copied to k8s.pod.label.<key>.
}

// Keys are the configuration keys, as documented.
var Keys = []string{"Endpoint", "TLS", "tls.verify", "tls.ca_file", "tls.crt_file", "tls.key_file", "tls.vhost",
	"Bearer_Token", "Bearer_Token_File", "Timeout", "Compress", "Pod_Labels"}

// ParseConfig reads the configuration through get (Fluent Bit's property lookup: "" when unset)
// and returns every problem at once.
func ParseConfig(get func(key string) string) (Config, error) {
	c := Config{TLS: true, TLSVerify: true, Timeout: 30 * time.Second}
	var errs []error
	c.Endpoint = strings.TrimSpace(get("Endpoint"))
	if c.Endpoint == "" {
		errs = append(errs, errors.New("Endpoint: must be set (host:port of vigil's OTLP/gRPC receiver, e.g. 127.0.0.1:4317)"))
	} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("Endpoint: %q is not host:port", c.Endpoint))
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"TLS", &c.TLS}, {"tls.verify", &c.TLSVerify}} {
		if v := get(b.key); v != "" {
			on, err := parseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not on or off", b.key, v))
			}
			*b.dst = on
		}
	}
	c.CAFile, c.CertFile, c.KeyFile, c.ServerName = get("tls.ca_file"), get("tls.crt_file"), get("tls.key_file"), get("tls.vhost")
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("tls.crt_file, tls.key_file: set both or neither"))
	}
	if !c.TLS && (c.CAFile != "" || c.CertFile != "") {
		errs = append(errs, errors.New("TLS: is off but tls.ca_file or tls.crt_file is set"))
	}
	c.BearerToken = get("Bearer_Token")
	if f := get("Bearer_Token_File"); f != "" {
		if c.BearerToken != "" {
			errs = append(errs, errors.New("Bearer_Token, Bearer_Token_File: set one of them"))
		}
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("Bearer_Token_File: cannot read the token: %w", err))
		}
		c.BearerToken = strings.TrimSpace(string(b))
	}
	if v := get("Timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("Timeout: %q is not a positive duration (e.g. 30s)", v))
		}
		c.Timeout = d
	}
	switch c.Compress = strings.ToLower(get("Compress")); c.Compress {
	case "", "gzip":
	default:
		errs = append(errs, fmt.Errorf("Compress: %q is not gzip or empty", c.Compress))
	}
	c.Labels = fluentk8s.DefaultLabels
	if v := get("Pod_Labels"); v != "" {
		c.Labels = nil
		for l := range strings.SplitSeq(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				c.Labels = append(c.Labels, l)
			}
		}
	}
	return c, errors.Join(errs...)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, errors.New("not a boolean")
}
