package k8spod

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// podsClient lists and watches pods through a REST client of the core/v1 API group only, as
// client-go's typed pods client does (k8s.io/client-go/kubernetes/typed/core/v1) — whose scheme
// (k8s.io/client-go/kubernetes/scheme) registers every API group: their code and their start-up
// registration are what an agent on every node would carry for one resource.
type podsClient struct {
	client *rest.RESTClient
	params runtime.ParameterCodec
}

func newPodsClient(rc *rest.Config) (*podsClient, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("cannot register the core/v1 API types: %w", err)
	}
	cfg := rest.CopyConfig(rc)
	gv := corev1.SchemeGroupVersion
	cfg.GroupVersion, cfg.APIPath = &gv, "/api"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot create the Kubernetes client: %w", err)
	}
	return &podsClient{client: client, params: runtime.NewParameterCodec(scheme)}, nil
}

// List lists the pods of every namespace matching opts.
func (p *podsClient) List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	err := p.client.Get().Resource("pods").VersionedParams(&opts, p.params).Timeout(timeout(opts)).Do(ctx).Into(out)
	return out, err
}

// Watch watches the pods of every namespace matching opts.
func (p *podsClient) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return p.client.Get().Resource("pods").VersionedParams(&opts, p.params).Timeout(timeout(opts)).Watch(ctx)
}

func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}
