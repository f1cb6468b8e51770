// Package audittest builds realistic Kubernetes audit events and archives for tests.
package audittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/vigil-obs/vigil/storage/archive"
)

// T0 is the time of the first event.
var T0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// Event is an audit event as the kube-apiserver writes it.
type Event struct {
	Kind       string    `json:"kind"`
	APIVersion string    `json:"apiVersion"`
	Level      string    `json:"level"`
	AuditID    string    `json:"auditID"`
	Stage      string    `json:"stage"`
	Verb       string    `json:"verb"`
	User       User      `json:"user"`
	SourceIPs  []string  `json:"sourceIPs"`
	ObjectRef  ObjectRef `json:"objectRef"`
	Code       int       `json:"-"`
	Status     Status    `json:"responseStatus"`
	Received   time.Time `json:"requestReceivedTimestamp"`
	StageTime  time.Time `json:"stageTimestamp"`
	Cluster    string    `json:"-"`
}

type User struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

type ObjectRef struct {
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

type Status struct {
	Code int `json:"code"`
}

var (
	users      = []string{"alice", "bob", "system:serviceaccount:kube-system:deployment-controller", "carol"}
	verbs      = []string{"get", "list", "create", "update", "patch", "delete", "watch"}
	resources  = []string{"pods", "secrets", "configmaps", "deployments"}
	namespaces = []string{"shop", "payments", "kube-system"}
)

// Events returns n events per cluster, one every 30 s from t0, with varied fields.
func Events(clusters []string, n int) []Event { return EventsAt(T0, clusters, n) }

// EventsAt is Events starting at t0.
func EventsAt(t0 time.Time, clusters []string, n int) []Event {
	var out []Event
	for ci, c := range clusters {
		for i := range n {
			ts := t0.Add(time.Duration(i)*30*time.Second + time.Duration(ci)*time.Millisecond)
			out = append(out, Event{Kind: "Event", APIVersion: "audit.k8s.io/v1", Level: "Metadata",
				AuditID: fmt.Sprintf("%s-%05d", c, i), Stage: "ResponseComplete", Verb: verbs[i%len(verbs)],
				User:      User{Username: users[(i/3)%len(users)], Groups: []string{"system:authenticated"}},
				SourceIPs: []string{fmt.Sprintf("10.0.%d.%d", ci, i%250)},
				ObjectRef: ObjectRef{Resource: resources[i%len(resources)], Namespace: namespaces[(i/2)%len(namespaces)], Name: fmt.Sprintf("obj-%d", i)},
				Status:    Status{Code: []int{200, 201, 403, 404}[i%4]}, Received: ts.Add(-5 * time.Millisecond), StageTime: ts, Cluster: c})
		}
	}
	return out
}

// WriteArchive archives the events as the archive exporter does: per cluster, objects of per events.
func WriteArchive(t testing.TB, bkt objstore.Bucket, events []Event, per int) {
	t.Helper()
	ctx := context.Background()
	byCluster := map[string][]Event{}
	var order []string
	for _, e := range events {
		if _, ok := byCluster[e.Cluster]; !ok {
			order = append(order, e.Cluster)
		}
		byCluster[e.Cluster] = append(byCluster[e.Cluster], e)
	}
	for _, c := range order {
		s := archive.Stream{Tenant: "default", Cluster: c}
		var prev *archive.Entry
		evs := byCluster[c]
		for start := 0; start < len(evs); start += per {
			chunk := evs[start:min(start+per, len(evs))]
			lines := make([][]byte, len(chunk))
			for i, e := range chunk {
				lines[i], _ = json.Marshal(e)
			}
			en, err := archive.Append(ctx, bkt, s, prev, chunk[0].StageTime, chunk[len(chunk)-1].StageTime, lines)
			require.NoError(t, err)
			prev = &en
		}
	}
}

// RealisticEvents makes audit events shaped like a busy cluster's: random auditIDs and object
// UIDs, increasing timestamps, a few hundred users, namespaces and objects, controllers' user
// agents, RBAC annotations, and some Request-level events with small objects.
func RealisticEvents(n int) [][]byte {
	g := NewGenerator(T0, 0, 0)
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// Generator makes realistic events one at a time (see RealisticEvents). With Humans > 0, one
// event in HumanEvery is by one of Humans people (user "person-NNN", kubectl), the rest by
// service accounts, as in a real cluster.
type Generator struct {
	t                  time.Time
	i                  int
	humans, humanEvery int
	// Step is the mean time between events (default 10ms).
	Step time.Duration
}

// NewGenerator starts at t0.
func NewGenerator(t0 time.Time, humans, humanEvery int) *Generator {
	return &Generator{t: t0, humans: humans, humanEvery: humanEvery, Step: 10 * time.Millisecond}
}

// Time is the time of the last event made.
func (g *Generator) Time() time.Time { return g.t }

// Next makes one event.
func (g *Generator) Next() []byte {
	verbs := []string{"get", "list", "watch", "update", "patch", "create", "delete"}
	resources := []string{"pods", "configmaps", "leases", "endpoints", "deployments", "replicasets", "events", "secrets", "services", "nodes"}
	agents := []string{"kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:deployment-controller",
		"kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46", "kubectl/v1.31.2 (darwin/arm64) kubernetes/5864a46",
		"argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format", "Go-http-client/2.0"}
	i := g.i
	g.i++
	{
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		uid := make([]byte, 16)
		_, _ = rand.Read(uid)
		g.t = g.t.Add(time.Duration(mrand.Int64N(int64(2*g.Step) + 1)))
		t := g.t
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
		if g.humans > 0 && g.humanEvery > 0 && i%g.humanEvery == 0 {
			ev["user"] = map[string]any{"username": fmt.Sprintf("person-%03d", mrand.IntN(g.humans)), "groups": []string{"oidc:engineering", "system:authenticated"}}
			ev["userAgent"] = agents[2]
		}
		b, _ := json.Marshal(ev)
		return b
	}
}
