package containerlogsreceiver

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/internal/k8spod"
)

// Config is the YAML configuration of the containerlogs receiver.
type Config struct {
	// Include are the glob patterns of the files to follow (default ["/var/log/pods/*/*/*.log"]).
	// Files are recognised by device and inode, so a file renamed away (kubelet rotation,
	// 0.log -> 0.log.20240101-120000) is read to its end under its new name.
	Include []string `mapstructure:"include"`
	// Exclude are glob patterns of files not to follow among those included (default none).
	Exclude []string `mapstructure:"exclude"`
	// IncludeNamespaces, when set, follows only pods of namespaces matching one of these glob
	// patterns (default: all); ExcludeNamespaces skips the namespaces matching one (default none).
	IncludeNamespaces []string `mapstructure:"include_namespaces"`
	ExcludeNamespaces []string `mapstructure:"exclude_namespaces"`
	// Format is "auto" (default: Docker json-file for lines starting with '{', else CRI), "cri" or "docker".
	Format string `mapstructure:"format"`
	// Storage is the storage extension (walstorage) that keeps each file's position. Required.
	Storage *component.ID `mapstructure:"storage"`
	// Relay, when set, names an otlprelay receiver of this collector (e.g. otlprelay) that takes
	// the records: they are encoded as OTLP requests straight from the files' bytes and put in
	// the relay's durable queue, which forwards them to the gateway as they were queued, never
	// decoded (the relay stamps its resource_attributes and pod_metadata on them). The relay must
	// serve logs (be in a logs pipeline) and use the same storage extension; the pipeline's
	// processors and exporters get nothing (give it the nop exporter). Default: none, the
	// records go to the pipeline as pdata logs.
	Relay *component.ID `mapstructure:"relay"`
	// PollInterval is how often the files are listed and checked for new lines (default 250ms).
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// MaxLogBytes bounds one record (default 1048576 bytes): an output line or multiline message
	// that goes on past it is split between the runtime's partial lines (counted, reason
	// "split"); a single line of the file longer than it is cut (counted, reason "truncated").
	MaxLogBytes int `mapstructure:"max_log_bytes"`
	// Multiline joins the lines of one message (stack traces).
	Multiline MultilineConfig `mapstructure:"multiline"`
	// FlushTimeout is how long a multiline message, or a partial line whose end has not come,
	// waits for more before it is sent as it is (default 5s).
	FlushTimeout time.Duration `mapstructure:"flush_timeout"`
	// StartAt is where a file never seen before is read from: "beginning" (default) or "end".
	StartAt string `mapstructure:"start_at"`
	// MaxBatchBytes bounds the bodies of the records handed to the pipeline at once (default 4194304 bytes).
	MaxBatchBytes int `mapstructure:"max_batch_bytes"`
	// NodeName is the node whose pods pod_metadata looks up. Default: $K8S_NODE_NAME.
	NodeName string `mapstructure:"node_name"`
	// PodMetadata adds the pod's workload and labels from the Kubernetes API (default disabled).
	PodMetadata k8spod.Config `mapstructure:"pod_metadata"`
	// ExcludePodAnnotations: a pod with one of these annotations set to "true" is not followed
	// (default ["vigil.io/exclude"]; add "fluentbit.io/exclude" to honour Fluent Bit's). Needs
	// pod_metadata; decided when a container's file is first seen.
	ExcludePodAnnotations []string `mapstructure:"exclude_pod_annotations"`
	_                     struct{}
}

// MultilineConfig configures multiline joining.
type MultilineConfig struct {
	// LineStartPattern is a regular expression (RE2) that matches the first line of a message;
	// the lines that follow without matching belong to it. Default "": every line is a record.
	// Example for Java, Python and Go traces: '^[^\s]' (a message starts unindented).
	LineStartPattern string `mapstructure:"line_start_pattern"`
}

// Start positions of a new file.
const (
	StartAtBeginning = "beginning"
	StartAtEnd       = "end"
)

func createDefaultConfig() *Config {
	return &Config{
		Include:               []string{"/var/log/pods/*/*/*.log"},
		Format:                FormatAuto,
		PollInterval:          250 * time.Millisecond,
		MaxLogBytes:           1 << 20,
		FlushTimeout:          5 * time.Second,
		StartAt:               StartAtBeginning,
		MaxBatchBytes:         4 << 20,
		NodeName:              os.Getenv("K8S_NODE_NAME"),
		PodMetadata:           k8spod.DefaultConfig(),
		ExcludePodAnnotations: []string{"vigil.io/exclude"},
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Include) == 0 {
		errs = append(errs, errors.New("include: must list at least one glob pattern, e.g. /var/log/pods/*/*/*.log"))
	}
	for key, patterns := range map[string][]string{"include": c.Include, "exclude": c.Exclude,
		"include_namespaces": c.IncludeNamespaces, "exclude_namespaces": c.ExcludeNamespaces} {
		for i, p := range patterns {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %q is not a glob pattern: %w", key, i, p, err))
			}
		}
	}
	if c.Format != FormatAuto && c.Format != FormatCRI && c.Format != FormatDocker {
		errs = append(errs, fmt.Errorf("format: %q is not allowed; use %q, %q or %q", c.Format, FormatAuto, FormatCRI, FormatDocker))
	}
	if c.Storage == nil {
		errs = append(errs, errors.New("storage: must name the storage extension (walstorage) that keeps the files' positions"))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval: %q must be positive", c.PollInterval))
	}
	if c.MaxLogBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_log_bytes: %d must be at least 1024", c.MaxLogBytes))
	}
	if c.MaxBatchBytes < c.MaxLogBytes {
		errs = append(errs, fmt.Errorf("max_batch_bytes: %d must be at least max_log_bytes (%d)", c.MaxBatchBytes, c.MaxLogBytes))
	}
	if c.Multiline.LineStartPattern != "" {
		if _, err := regexp.Compile(c.Multiline.LineStartPattern); err != nil {
			errs = append(errs, fmt.Errorf("multiline.line_start_pattern: %q is not a regular expression: %w", c.Multiline.LineStartPattern, err))
		}
	}
	if c.FlushTimeout <= 0 {
		errs = append(errs, fmt.Errorf("flush_timeout: %q must be positive", c.FlushTimeout))
	}
	for i, a := range c.ExcludePodAnnotations {
		if a == "" {
			errs = append(errs, fmt.Errorf("exclude_pod_annotations[%d]: must not be empty", i))
		}
	}
	if c.StartAt != StartAtBeginning && c.StartAt != StartAtEnd {
		errs = append(errs, fmt.Errorf("start_at: %q is not allowed; use %q or %q", c.StartAt, StartAtBeginning, StartAtEnd))
	}
	if err := c.PodMetadata.Validate(c.NodeName, "node_name"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// matchAny reports whether s matches one of the glob patterns.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}
