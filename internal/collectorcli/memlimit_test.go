package collectorcli

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/stretchr/testify/require"
)

func TestMemoryLimitFollowsTheContainer(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	var container uint64 = 512 << 20 // the agent DaemonSet's limit

	want := int64(float64(container) * MemoryLimitRatio)
	require.Equal(t, want, SetMemoryLimit(memlimit.Limit(container)))
	require.Equal(t, want, debug.SetMemoryLimit(-1), "Go's soft limit is 90% of the container's")

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "100MiB")
	SetMemoryLimit(memlimit.Limit(container))
	require.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "GOMEMLIMIT set by the operator wins")

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "off")
	SetMemoryLimit(memlimit.Limit(container))
	require.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "AUTOMEMLIMIT=off leaves it alone")
}
