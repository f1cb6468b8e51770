package opensearchexporter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/stretchr/testify/require"
)

// bulkAnswer is an answer of OpenSearch's bulk API to n index actions, as the API documents it;
// failed lists the items that failed, with status 429.
func bulkAnswer(n int, failed ...int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"took":30,"errors":%t,"items":[`, len(failed) > 0)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		status := 201
		extra := fmt.Sprintf(`"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1`, i)
		for _, f := range failed {
			if f == i {
				status = 429
				extra = `"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}`
			}
		}
		fmt.Fprintf(&b, `{"index":{"_index":"vigil-audit-000001","_id":"a1b2c3d4e5f6a7b8c9d0-%d","_version":1,%s,"status":%d}}`, i, extra, status)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func TestBulkSucceeded(t *testing.T) {
	ok := bulkAnswer(400)
	var br opensearchapi.BulkResp
	require.NoError(t, json.Unmarshal(ok, &br), "a well-formed answer")
	require.Len(t, br.Items, 400)

	require.True(t, bulkSucceeded(ok, 400))
	require.False(t, bulkSucceeded(ok, 401), "an answer for another number of documents is decoded (and refused)")
	failed := bulkAnswer(400, 7)
	require.NoError(t, json.Unmarshal(failed, &br))
	require.Equal(t, 429, br.Items[7]["index"].Status)
	require.False(t, bulkSucceeded(failed, 400), `"errors": true: decoded item by item`)
	for _, odd := range []string{
		``, `{}`, `{"took":1}`, `{"errors":"false","items":[]}`, `{"errors":false}`, `{"errors":false,"items":{}}`,
		`{"errors":false,"items":[{"index":{"status":201}}`, `[{"errors":false}]`, `{"errors":fals`,
	} {
		require.False(t, bulkSucceeded([]byte(odd), 0), odd)
	}
	require.True(t, bulkSucceeded([]byte(`{"items":[],"errors":false}`), 0), "key order does not matter")
}

// BenchmarkBulkAnswer compares reading a successful answer to 400 documents with bulkSucceeded
// and decoding it item by item (what every answer cost before).
func BenchmarkBulkAnswer(b *testing.B) {
	resp := bulkAnswer(400)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(resp)))
		for b.Loop() {
			var br opensearchapi.BulkResp
			if err := json.Unmarshal(resp, &br); err != nil || len(br.Items) != 400 {
				b.Fatal(err)
			}
		}
	})
	b.Run("bulkSucceeded", func(b *testing.B) {
		b.SetBytes(int64(len(resp)))
		for b.Loop() {
			if !bulkSucceeded(resp, 400) {
				b.Fatal("not succeeded")
			}
		}
	})
}
