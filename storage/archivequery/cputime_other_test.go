//go:build !unix

package archivequery

import "time"

func cpuTime() (time.Duration, bool) { return 0, false }
