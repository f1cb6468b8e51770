package archive

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"
)

// realisticEvents makes audit events shaped like a busy cluster's: random auditIDs and object
// UIDs, increasing timestamps, a few hundred users, namespaces and objects, controllers' user
// agents, RBAC annotations, and some Request-level events with small objects.
func realisticEvents(n int) [][]byte {
	verbs := []string{"get", "list", "watch", "update", "patch", "create", "delete"}
	resources := []string{"pods", "configmaps", "leases", "endpoints", "deployments", "replicasets", "events", "secrets", "services", "nodes"}
	agents := []string{"kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:deployment-controller",
		"kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46", "kubectl/v1.31.2 (darwin/arm64) kubernetes/5864a46",
		"argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format", "Go-http-client/2.0"}
	t := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		uid := make([]byte, 16)
		_, _ = rand.Read(uid)
		t = t.Add(time.Duration(mrand.IntN(20)) * time.Millisecond)
		ns := fmt.Sprintf("team-%02d", mrand.IntN(20))
		res := resources[mrand.IntN(len(resources))]
		name := fmt.Sprintf("%s-%s-%04d", res[:3], ns, mrand.IntN(300))
		ev := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
			"auditID": hex.EncodeToString(id[:4]) + "-" + hex.EncodeToString(id[4:6]) + "-" + hex.EncodeToString(id[6:8]) + "-" + hex.EncodeToString(id[8:10]) + "-" + hex.EncodeToString(id[10:]),
			"stage":   "ResponseComplete", "requestURI": "/api/v1/namespaces/" + ns + "/" + res + "/" + name, "verb": verbs[mrand.IntN(len(verbs))],
			"user": map[string]any{"username": fmt.Sprintf("system:serviceaccount:%s:sa-%d", ns, mrand.IntN(15)), "uid": hex.EncodeToString(uid[:8]),
				"groups": []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}},
			"sourceIPs":                []string{fmt.Sprintf("10.%d.%d.%d", mrand.IntN(4), mrand.IntN(256), mrand.IntN(256))},
			"userAgent":                agents[mrand.IntN(len(agents))],
			"objectRef":                map[string]any{"resource": res, "namespace": ns, "name": name, "apiVersion": "v1", "uid": hex.EncodeToString(uid)},
			"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 200},
			"requestReceivedTimestamp": t.Format("2006-01-02T15:04:05.000000Z"),
			"stageTimestamp":           t.Add(time.Duration(mrand.IntN(30000)) * time.Microsecond).Format("2006-01-02T15:04:05.000000Z"),
			"annotations": map[string]any{"authorization.k8s.io/decision": "allow",
				"authorization.k8s.io/reason": fmt.Sprintf("RBAC: allowed by RoleBinding \"edit-%d/%s\" of ClusterRole \"edit\" to ServiceAccount \"sa-%d/%s\"", mrand.IntN(15), ns, mrand.IntN(15), ns)},
		}
		if i%10 == 0 {
			ev["level"] = "Request"
			ev["requestObject"] = map[string]any{"kind": "ConfigMap", "apiVersion": "v1",
				"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]string{"app": "web", "team": ns}},
				"data":     map[string]string{"config.yaml": fmt.Sprintf("replicas: %d\nimage: registry.example.com/web:%d.%d.%d\n", mrand.IntN(10), mrand.IntN(5), mrand.IntN(20), mrand.IntN(100))}}
		}
		out[i], _ = json.Marshal(ev)
	}
	return out
}

// BenchmarkEncode reports the compression ratio of realistic audit events and the encode speed.
func BenchmarkEncode(b *testing.B) {
	events := realisticEvents(10000)
	raw := 0
	for _, e := range events {
		raw += len(e) + 1
	}
	obj, _ := Encode(events)
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	for b.Loop() {
		Encode(events)
	}
	b.ReportMetric(float64(raw)/float64(len(obj)), "ratio")
	b.ReportMetric(float64(raw)/float64(len(events)), "B/event")
}

// BenchmarkDecode reports the decompression speed in MB/s of uncompressed NDJSON.
func BenchmarkDecode(b *testing.B) {
	events := realisticEvents(10000)
	obj, _ := Encode(events)
	raw := 0
	for _, e := range events {
		raw += len(e) + 1
	}
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(obj); err != nil {
			b.Fatal(err)
		}
	}
}
