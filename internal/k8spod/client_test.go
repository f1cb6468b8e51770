package k8spod

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// apiServer answers GET /api/v1/pods as the Kubernetes API server does, for the pods of one
// node: a list (PodList), a watch (a stream of watch events), and a watch with
// sendInitialEvents (the pods as ADDED events, then the BOOKMARK that ends them). It records
// the field selectors it was asked for.
type apiServer struct {
	pods []corev1.Pod

	mu        sync.Mutex
	selectors []string
	watches   int
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/pods" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	a.mu.Lock()
	a.selectors = append(a.selectors, q.Get("fieldSelector"))
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if q.Get("watch") != "true" {
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: a.pods}
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	a.mu.Lock()
	a.watches++
	a.mu.Unlock()
	enc := json.NewEncoder(w)
	if q.Get("sendInitialEvents") == "true" {
		for _, p := range a.pods {
			p.Kind, p.APIVersion = "Pod", "v1"
			_ = enc.Encode(map[string]any{"type": "ADDED", "object": p})
		}
		_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": corev1.Pod{
			TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: "10",
				Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}})
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done() // no change until the client goes
}

// The pods client that links core/v1 only lists and watches the node's pods from a server
// that answers as the API server: the cache fills from it and looks pods up.
func TestPodsClientAgainstAnAPIServer(t *testing.T) {
	api := &apiServer{pods: []corev1.Pod{*testPod("web-1", "node-1", "10.0.0.5", nil, map[string]string{"app": "web"})}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	client, err := newPodsClient(&rest.Config{Host: srv.URL})
	require.NoError(t, err)

	list, err := client.List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=node-1"})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	require.Equal(t, "web-1", list.Items[0].Name)

	c, err := NewCache(client, "node-1", []string{"app"}, nil)
	require.NoError(t, err)
	require.True(t, c.Start(context.Background(), 10*time.Second), "the cache synced from the server")
	pod := c.Find(func(k string) (string, bool) {
		if k == AttrPodUID {
			return "uid-web-1", true
		}
		return "", false
	}, "")
	require.NotNil(t, pod)
	require.Contains(t, c.AppendAttributes(nil, pod), Attr{Key: AttrLabel + "app", Value: "web"})
	c.Shutdown()
	srv.CloseClientConnections()

	api.mu.Lock()
	defer api.mu.Unlock()
	require.Positive(t, api.watches, "the informer watches")
	for _, s := range api.selectors {
		require.Equal(t, "spec.nodeName=node-1", s, "every request asks for the node's pods only")
	}
}
