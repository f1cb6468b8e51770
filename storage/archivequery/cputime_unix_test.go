//go:build unix

package archivequery

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used so far, user and system, all threads; ok is false
// where it cannot be read.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
