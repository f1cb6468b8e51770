// Package audittest builds realistic Kubernetes audit events and archives for tests.
package audittest

import (
	"context"
	"encoding/json"
	"fmt"
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
