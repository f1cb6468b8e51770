package walstorageextension

import (
	"errors"
	"fmt"
)

// Config is the YAML configuration of the walstorage extension.
type Config struct {
	// Directory holds the log's segment files. Required (the role configs use
	// ${env:VIGIL_DATA_DIR}/queue).
	Directory string `mapstructure:"directory"`
	// MaxBytes bounds the bytes on disk (default 10737418240 = 10 GiB). Past it, writes that add
	// data are refused and receivers push back (429/503); consumption still proceeds.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// SegmentBytes is the size of one segment file (default 67108864 = 64 MiB).
	SegmentBytes int64 `mapstructure:"segment_bytes"`
	_            struct{}
}

func createDefaultConfig() *Config {
	return &Config{MaxBytes: 10 << 30, SegmentBytes: 64 << 20}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory: must be set (e.g. ${env:VIGIL_DATA_DIR}/queue)"))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max_bytes: %d must not be negative (0 = unbounded)", c.MaxBytes))
	}
	if c.SegmentBytes < 4096 {
		errs = append(errs, fmt.Errorf("segment_bytes: %d is below the minimum of 4096", c.SegmentBytes))
	}
	if c.MaxBytes > 0 && c.SegmentBytes*4 > c.MaxBytes {
		// Space is reclaimed a whole segment at a time: a queue of a few segments could stay full.
		errs = append(errs, fmt.Errorf("segment_bytes: %d must be at most a quarter of max_bytes (%d)", c.SegmentBytes, c.MaxBytes))
	}
	return errors.Join(errs...)
}
