package promlabels

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestLabelCacheKeysUnambiguous: attribute values holding what would separate fields in a naive
// key do not make two different attribute sets share a cache entry.
func TestLabelCacheKeysUnambiguous(t *testing.T) {
	a, b := pcommon.NewMap(), pcommon.NewMap()
	a.PutStr("k1", "v1\x00\x02k2\x01\x02v2")
	b.PutStr("k1", "v1")
	b.PutStr("k2", "v2")
	require.NotEqual(t, appendAttributes(nil, a), appendAttributes(nil, b))
	c := pcommon.NewMap()
	c.PutStr("k", "")
	d := pcommon.NewMap()
	d.PutInt("k", 0)
	require.NotEqual(t, appendAttributes(nil, c), appendAttributes(nil, d))
}
