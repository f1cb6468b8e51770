package archivequery

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-obs/vigil/internal/audit"
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

// parseEvent returns the stream labels and time of one archived line. A line that is not an
// audit event (vigil archives every record of the pipeline) gets the stream's labels and the
// fallback time.
func parseEvent(s archive.Stream, line []byte, fallback time.Time) (labels.Labels, time.Time) {
	f := audit.ParseFields(line)
	b := labels.NewScratchBuilder(7)
	add := func(name, value string) {
		if value != "" {
			b.Add(name, value)
		}
	}
	add(LabelCluster, s.Cluster)
	add(LabelNamespace, f.Namespace)
	add(LabelResource, f.Resource)
	add(LabelStage, f.Stage)
	add(LabelTenant, s.Tenant)
	add(LabelUser, f.User)
	add(LabelVerb, f.Verb)
	t := f.Time
	if t.IsZero() {
		t = fallback
	}
	return b.Labels(), t.UTC()
}
