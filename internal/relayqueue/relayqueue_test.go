package relayqueue

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
)

type fakeQueue struct{ name string }

type fakeStorage struct {
	component.StartFunc
	component.ShutdownFunc
	_ int // not zero-sized: two instances are distinct pointers
}

func (fakeQueue) QueueLogs(context.Context, []byte) error { return nil }

func TestFindByStorageAndID(t *testing.T) {
	ext1, ext2 := &fakeStorage{}, &fakeStorage{} // two collectors' storage extensions
	id := component.MustNewID("otlprelay")
	q1 := &fakeQueue{"one"}
	unregister := Register(ext1, id, q1)

	got, ok := Find(ext1, id)
	require.True(t, ok)
	require.Same(t, q1, got)
	_, ok = Find(ext2, id)
	require.False(t, ok, "another collector's storage extension: not the same relay")
	_, ok = Find(ext1, component.MustNewIDWithName("otlprelay", "other"))
	require.False(t, ok, "another relay")

	q2 := &fakeQueue{"two"}
	unregister2 := Register(ext1, id, q2) // a restart registered before the old one unregistered
	unregister()
	got, ok = Find(ext1, id)
	require.True(t, ok, "the old relay's unregister leaves the new one")
	require.Same(t, q2, got)
	unregister2()
	_, ok = Find(ext1, id)
	require.False(t, ok)
}
