package archivequery

import (
	"encoding/json"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-obs/vigil/storage/archive"
)

// Label names of an archived audit event, the stream labels of LogQL selectors. Values come from
// the event; an empty value means the label is absent, as in Loki.
const (
	LabelTenant    = "tenant"    // archive tenant
	LabelCluster   = "cluster"   // cluster the event came from (from the credential, not the payload)
	LabelNamespace = "namespace" // objectRef.namespace
	LabelResource  = "resource"  // objectRef.resource, e.g. secrets
	LabelVerb      = "verb"      // get, list, create, update, patch, delete, ...
	LabelUser      = "user"      // user.username
	LabelStage     = "stage"     // RequestReceived, ResponseStarted, ResponseComplete, Panic
)

// LabelNames are the stream label names, sorted.
var LabelNames = []string{LabelCluster, LabelNamespace, LabelResource, LabelStage, LabelTenant, LabelUser, LabelVerb}

// event holds the fields of an audit event that labels and times come from.
type event struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
	} `json:"objectRef"`
	StageTimestamp           time.Time `json:"stageTimestamp"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// parseEvent returns the stream labels and time of one archived line. A line that is not an
// audit event (vigil archives every record of the pipeline) gets the stream's labels and the
// zero time; fallback, when set, is used then.
func parseEvent(s archive.Stream, line []byte, fallback time.Time) (labels.Labels, time.Time) {
	var ev event
	_ = json.Unmarshal(line, &ev) // a line that is not an event keeps only the stream labels
	b := labels.NewScratchBuilder(7)
	add := func(name, value string) {
		if value != "" {
			b.Add(name, value)
		}
	}
	add(LabelCluster, s.Cluster)
	add(LabelNamespace, ev.ObjectRef.Namespace)
	add(LabelResource, ev.ObjectRef.Resource)
	add(LabelStage, ev.Stage)
	add(LabelTenant, s.Tenant)
	add(LabelUser, ev.User.Username)
	add(LabelVerb, ev.Verb)
	t := ev.StageTimestamp
	if t.IsZero() {
		t = ev.RequestReceivedTimestamp
	}
	if t.IsZero() {
		t = fallback
	}
	return b.Labels(), t.UTC()
}
