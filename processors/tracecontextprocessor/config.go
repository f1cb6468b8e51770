package tracecontextprocessor

import (
	"errors"
	"fmt"
)

// Config is the YAML configuration of the tracecontext processor.
type Config struct {
	// TraceparentKeys are the keys whose value is a W3C traceparent ("00-<trace>-<span>-<flags>").
	TraceparentKeys []string `mapstructure:"traceparent_keys"`
	// TraceIDKeys and SpanIDKeys are the keys whose values are a trace ID (32 hex digits, or 16 for
	// a 64-bit ID) and a span ID (16 hex digits). A key with dots also names the nested field
	// ("trace.id" is also {"trace":{"id":...}}, as Elastic Common Schema writes it).
	TraceIDKeys []string `mapstructure:"trace_id_keys"`
	SpanIDKeys  []string `mapstructure:"span_id_keys"`
	// Body looks for the keys in the body too: a map body, a JSON object or a logfmt line
	// (default true).
	Body bool `mapstructure:"body"`
	// MaxBodyBytes bounds the part of a text body that is read (default 16384): a long line is
	// read up to there.
	MaxBodyBytes int `mapstructure:"max_body_bytes"`
	_            struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		TraceparentKeys: []string{"traceparent", "http.request.header.traceparent"},
		TraceIDKeys:     []string{"trace_id", "traceId", "traceID", "TraceId", "otelTraceID", "trace.id", "@tr"},
		SpanIDKeys:      []string{"span_id", "spanId", "spanID", "SpanId", "otelSpanID", "span.id", "@sp"},
		Body:            true,
		MaxBodyBytes:    16 << 10,
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.TraceparentKeys) == 0 && len(c.TraceIDKeys) == 0 {
		errs = append(errs, errors.New("traceparent_keys, trace_id_keys: at least one key must be set, or the processor finds nothing"))
	}
	for _, list := range []struct {
		name string
		keys []string
	}{{"traceparent_keys", c.TraceparentKeys}, {"trace_id_keys", c.TraceIDKeys}, {"span_id_keys", c.SpanIDKeys}} {
		for _, k := range list.keys {
			if k == "" {
				errs = append(errs, fmt.Errorf("%s: an empty key", list.name))
			}
		}
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_body_bytes: %d must be positive", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}
