package k8spod

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

const (
	indexUID = "uid"
	indexIP  = "ip"
)

// Cache is an informer cache of the pods of one node, each stripped to the fields this package
// reads, so memory stays flat however large the cluster is. Lookups are safe for concurrent use.
type Cache struct {
	node     string
	labels   []string
	annots   []string
	informer cache.SharedIndexInformer
	stop     chan struct{}
	done     chan struct{} // closed when the informer has stopped
}

// NewCache returns a cache of the pods of node, keeping the pod labels of the keys labels and
// the annotations of the keys annotations; Start fills it.
func NewCache(client Pods, node string, labels, annotations []string) (*Cache, error) {
	selector := fields.OneTermEqualSelector("spec.nodeName", node).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return client.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return client.Watch(ctx, o)
		},
	}
	// The pod informer as client-go's shared informer factory makes it, without the factory
	// (which links an informer of every API group).
	informer := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), &corev1.Pod{}, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	c := &Cache{node: node, labels: labels, annots: annotations, informer: informer,
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := informer.SetTransform(c.strip); err != nil {
		return nil, fmt.Errorf("cannot set pod transform: %w", err)
	}
	err := informer.AddIndexers(cache.Indexers{
		indexUID: func(obj any) ([]string, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return nil, nil
			}
			return []string{string(pod.UID)}, nil
		},
		indexIP: func(obj any) ([]string, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok || pod.Spec.HostNetwork { // host-network pods share the node's IP
				return nil, nil
			}
			ips := make([]string, 0, len(pod.Status.PodIPs))
			for _, ip := range pod.Status.PodIPs {
				ips = append(ips, ip.IP)
			}
			if len(ips) == 0 && pod.Status.PodIP != "" {
				ips = append(ips, pod.Status.PodIP)
			}
			return ips, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot add pod indexers: %w", err)
	}
	return c, nil
}

// strip keeps only what this package reads of a pod.
func (c *Cache) strip(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		},
		Spec:   corev1.PodSpec{NodeName: pod.Spec.NodeName, HostNetwork: pod.Spec.HostNetwork},
		Status: corev1.PodStatus{PodIP: pod.Status.PodIP, PodIPs: pod.Status.PodIPs},
	}
	for _, k := range append([]string{"pod-template-hash"}, c.labels...) {
		if v, ok := pod.Labels[k]; ok {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v
		}
	}
	for _, k := range c.annots {
		if v, ok := pod.Annotations[k]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		out.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return out, nil
}

// Start runs the informer and waits up to timeout for the first listing. It reports whether the
// cache synced in time; if not, it fills in the background.
func (c *Cache) Start(ctx context.Context, timeout time.Duration) bool {
	go func() {
		defer close(c.done)
		c.informer.Run(c.stop)
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced)
}

// Shutdown stops the informer and waits for its goroutines.
func (c *Cache) Shutdown() {
	close(c.stop)
	<-c.done
}

func (c *Cache) byIndex(index, key string) *corev1.Pod {
	objs, err := c.informer.GetIndexer().ByIndex(index, key)
	if err != nil {
		return nil
	}
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok && pod.Spec.NodeName == c.node {
			return pod
		}
	}
	return nil
}

// Annotation returns the annotation key of the pod of the cache's node with the given UID, if
// that pod is known and the cache keeps that key (NewCache's annotations).
func (c *Cache) Annotation(uid, key string) (string, bool) {
	pod := c.byIndex(indexUID, uid)
	if pod == nil {
		return "", false
	}
	v, ok := pod.Annotations[key]
	return v, ok
}

func (c *Cache) byName(namespace, name string) *corev1.Pod {
	obj, ok, err := c.informer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName == c.node {
		return pod
	}
	return nil
}

var cronJobSuffix = regexp.MustCompile(`-[0-9]{8,}$`)

// appendWorkload appends the resource attributes naming the pod's controller chain.
func appendWorkload(dst []Attr, pod *corev1.Pod) []Attr {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return dst
	}
	switch ref.Kind {
	case "ReplicaSet":
		dst = append(dst, Attr{Key: "k8s.replicaset.name", Value: ref.Name})
		if hash := pod.Labels["pod-template-hash"]; hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
			dst = append(dst, Attr{Key: "k8s.deployment.name", Value: strings.TrimSuffix(ref.Name, "-"+hash)})
		}
	case "StatefulSet":
		dst = append(dst, Attr{Key: "k8s.statefulset.name", Value: ref.Name})
	case "DaemonSet":
		dst = append(dst, Attr{Key: "k8s.daemonset.name", Value: ref.Name})
	case "Job":
		dst = append(dst, Attr{Key: "k8s.job.name", Value: ref.Name})
		if cronJobSuffix.MatchString(ref.Name) {
			dst = append(dst, Attr{Key: "k8s.cronjob.name", Value: cronJobSuffix.ReplaceAllString(ref.Name, "")})
		}
	}
	return dst
}
