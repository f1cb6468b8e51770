// Package k8spodtest adapts client-go's fake clientset to k8spod.Pods for tests.
package k8spodtest

import (
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vigil-obs/vigil/internal/k8spod"
)

// Pods returns the pods of every namespace of cs as k8spod.Pods. Like cs, it tells informers
// that it does not stream watch lists (client-go's fake answers a plain watch).
func Pods(cs *fake.Clientset) k8spod.Pods {
	return fakePods{cs.CoreV1().Pods(""), cs}
}

type fakePods struct {
	k8spod.Pods
	cs *fake.Clientset
}

func (p fakePods) IsWatchListSemanticsUnSupported() bool {
	return p.cs.IsWatchListSemanticsUnSupported()
}
