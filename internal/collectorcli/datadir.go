package collectorcli

import (
	"fmt"
	"os"
	"path/filepath"
)

// DataDirEnv is the environment variable through which the configs find the data directory
// (${env:VIGIL_DATA_DIR}); --data-dir sets it.
const DataDirEnv = "VIGIL_DATA_DIR"

// PrepareDataDir settles the data directory (flag, then $VIGIL_DATA_DIR, then ./data), makes it
// absolute, creates it and exports it as $VIGIL_DATA_DIR for the configuration.
func PrepareDataDir(flagValue string) (string, error) {
	dir := flagValue
	if dir == "" {
		dir = os.Getenv(DataDirEnv)
	}
	if dir == "" {
		dir = "data"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("cannot resolve data directory %q (--data-dir / %s): %w", dir, DataDirEnv, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return "", fmt.Errorf("cannot create data directory %q (--data-dir / %s): %w", abs, DataDirEnv, err)
	}
	if err := os.Setenv(DataDirEnv, abs); err != nil {
		return "", fmt.Errorf("cannot set %s: %w", DataDirEnv, err)
	}
	return abs, nil
}
