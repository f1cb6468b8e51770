package otlpwire

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// chooser chooses the attributes to set on resource number i from what it reads of it. It is
// run on Resource by SetResourceAttributesFunc and on pdata's decoding by the tests.
type chooser func(i int, r strReader) []Attr

// k8sResource gives resource number i the pod metadata an agent finds: a pod uid, name,
// namespace and ip (i%4 == 0), a name and namespace (1), an int uid (2), nothing (3).
func k8sResource(r pcommon.Resource, i int) {
	m := r.Attributes()
	switch i % 4 {
	case 0:
		m.PutStr("k8s.pod.uid", fmt.Sprintf("6f1c2a4e-%04d", i))
		m.PutStr("k8s.pod.name", fmt.Sprintf("checkout-%d", i))
		m.PutStr("k8s.namespace.name", "shop")
		m.PutStr("k8s.pod.ip", fmt.Sprintf("10.0.0.%d", i))
	case 1:
		m.PutStr("k8s.pod.name", fmt.Sprintf("cart-%d", i))
		m.PutStr("k8s.namespace.name", "shop")
	case 2:
		m.PutInt("k8s.pod.uid", int64(i))
	}
}

// k8sRequests are realistic requests of every signal with k8s attributes on some resources.
func k8sRequests(t testing.TB) []testRequest {
	t.Helper()
	const nRes = 6
	ld := testLogs(nRes, 1, 2)
	td := testTraces(nRes, 1, 1)
	md := testMetrics(nRes, 1, 1)
	for i := range nRes {
		k8sResource(ld.ResourceLogs().At(i).Resource(), i)
		k8sResource(td.ResourceSpans().At(i).Resource(), i)
		k8sResource(md.ResourceMetrics().At(i).Resource(), i)
	}
	return []testRequest{
		{"logs/k8s", Logs, marshal(t, ld)},
		{"traces/k8s", Traces, marshal(t, td)},
		{"metrics/k8s", Metrics, marshal(t, md)},
	}
}

// k8sAttrs is what the relay does: pod metadata looked up by pod uid, or else by name and
// namespace, overriding attributes the resource has; nothing when it cannot tell the pod.
func k8sAttrs(_ int, r strReader) []Attr {
	if uid, ok := r.Str("k8s.pod.uid"); ok {
		ip, _ := r.Str("k8s.pod.ip")
		return []Attr{{"pod", "pod-" + uid}, {"service.name", "svc-of-" + uid}, {"k8s.pod.ip", ip + "/32"},
			{"k8s.node.name", "node-1"}}
	}
	name, ok := r.Str("k8s.pod.name")
	if !ok {
		return nil
	}
	ns, _ := r.Str("k8s.namespace.name")
	return []Attr{{"pod", ns + "/" + name}, {"host.name", "node-of-" + name}}
}

var choosers = map[string]chooser{
	"k8s":        k8sAttrs,
	"call index": func(i int, _ strReader) []Attr { return []Attr{{"call", strconv.Itoa(i)}} },
	"nil for odd": func(i int, _ strReader) []Attr {
		if i%2 == 1 {
			return nil
		}
		return attrSets["mixed"]
	},
	"empty": func(int, strReader) []Attr { return []Attr{} },
	"many or duplicates": func(i int, _ strReader) []Attr {
		if i%3 == 0 {
			return attrSets["many"]
		}
		return attrSets["duplicates"]
	},
	"from service.name": func(_ int, r strReader) []Attr {
		sn, ok := r.Str("service.name")
		if !ok {
			return []Attr{{"service.name", "unknown"}}
		}
		return []Attr{{"original", sn}, {"service.name", sn + "-relayed"}}
	},
}

// wantRewriteFunc is req decoded by pdata with the attributes choose gives each resource put
// into it, encoded by pdata.
func wantRewriteFunc(t testing.TB, s Signal, req []byte, choose chooser) []byte {
	t.Helper()
	d, err := pdataDecode(s, req)
	require.NoError(t, err)
	for i, r := range d.resources() {
		for _, a := range choose(i, pdataResource{r}) {
			r.Attributes().PutStr(a.Key, a.Value)
		}
	}
	return d.marshal(t)
}

// requireRewriteFunc checks SetResourceAttributesFunc on req, which Check accepts, against
// pdata, and returns its result. The attributes function is called once per ResourceX, in
// order, and returns them in one buffer that each call refills.
func requireRewriteFunc(t testing.TB, s Signal, req []byte, choose chooser) []byte {
	t.Helper()
	prefix := []byte("prefix")
	var buf []Attr
	calls := 0
	out, err := SetResourceAttributesFunc(bytes.Clone(prefix), req, s, func(r Resource) []Attr {
		attrs := choose(calls, r)
		calls++
		if attrs == nil {
			return nil
		}
		for i := range buf {
			buf[i] = Attr{"stale", "stale"} // what a caller may do to a slice it returned before
		}
		buf = append(buf[:0], attrs...)
		return buf
	})
	out = requireAppended(t, s, req, prefix, out, err)

	d, err := pdataDecode(s, req)
	require.NoError(t, err)
	require.Len(t, d.resources(), calls, "calls of the attributes function")
	d, err = pdataDecode(s, out)
	require.NoError(t, err)
	require.Equal(t, wantRewriteFunc(t, s, req, choose), d.marshal(t))
	return out
}

func TestSetResourceAttributesFuncRealistic(t *testing.T) {
	for _, tr := range append(k8sRequests(t), testRequests(t)...) {
		for name, choose := range choosers {
			t.Run(tr.name+"/"+name, func(t *testing.T) {
				out := requireRewriteFunc(t, tr.signal, tr.req, choose)
				if name == "empty" {
					require.Equal(t, tr.req, out)
				}
			})
		}
	}
}

// TestSetResourceAttributesFuncK8s spells out, on the k8s requests, what the relay gets.
func TestSetResourceAttributesFuncK8s(t *testing.T) {
	for _, tr := range k8sRequests(t) {
		t.Run(tr.name, func(t *testing.T) {
			out := requireRewriteFunc(t, tr.signal, tr.req, k8sAttrs)
			d, err := pdataDecode(tr.signal, out)
			require.NoError(t, err)
			for i, r := range d.resources() {
				pod, _ := pdataResource{r}.Str("pod")
				sn, _ := pdataResource{r}.Str("service.name")
				switch i % 4 {
				case 0:
					require.Equal(t, fmt.Sprintf("pod-6f1c2a4e-%04d", i), pod)
					require.Equal(t, fmt.Sprintf("svc-of-6f1c2a4e-%04d", i), sn)
				case 1:
					require.Equal(t, fmt.Sprintf("shop/cart-%d", i), pod)
				default:
					require.Empty(t, pod)
				}
			}
		})
	}
}

// TestSetResourceAttributesFuncCases: hand-made requests with odd resources.
func TestSetResourceAttributesFuncCases(t *testing.T) {
	fromA := func(_ int, r strReader) []Attr {
		a, ok := r.Str("a")
		if !ok {
			return nil
		}
		return []Attr{{"a", a + "+"}, {"b", "from " + a}, {"c", a}}
	}
	for name, res := range oddResources {
		for _, s := range []Signal{Logs, Traces, Metrics} {
			t.Run(name+"/"+s.String(), func(t *testing.T) {
				req := cat(msgField(1, res, msgField(2)), msgField(1, msgField(1, kv(1, "a", "second"))))
				requireRewriteFunc(t, s, req, fromA)
				requireRewriteFunc(t, s, req, choosers["call index"])
			})
		}
	}
}

// nonMinimal is field 1 holding content (under 128 bytes) with its length in 2 bytes, as no
// encoder writes it.
func nonMinimal(content []byte) []byte {
	return append([]byte{0x0a, byte(len(content)) | 0x80, 0x00}, content...)
}

// TestSetResourceAttributesFuncCopiesUntouched: a ResourceX that gets no attributes is copied
// byte for byte, however it is encoded.
func TestSetResourceAttributesFuncCopiesUntouched(t *testing.T) {
	first := nonMinimal(cat(nonMinimal(kv(1, "a", "1")), msgField(2, msgField(2))))
	second := msgField(1, msgField(1, kv(1, "a", "2")))
	req := cat(first, second, first)
	_, err := Check(Logs, req)
	require.NoError(t, err)
	only2 := func(_ int, r strReader) []Attr {
		if a, _ := r.Str("a"); a == "2" {
			return []Attr{{"b", "x"}}
		}
		return nil
	}
	out := requireRewriteFunc(t, Logs, req, only2)
	require.Equal(t, cat(first, msgField(1, msgField(1, kv(1, "a", "2"), kv(1, "b", "x"))), first), out)

	out, err = SetResourceAttributes(nil, req, Logs, nil)
	require.NoError(t, err)
	require.Equal(t, req, out)
}

func TestSetResourceAttributesFuncErrors(t *testing.T) {
	for _, c := range rewriteErrorCases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("dst")
			out, err := SetResourceAttributesFunc(dst, c.req, c.signal, func(Resource) []Attr { return []Attr{{"a", "b"}} })
			require.EqualError(t, err, c.err)
			require.Equal(t, dst, out)
		})
	}
	dst := []byte("dst")
	out, err := SetResourceAttributesFunc(dst, msgField(1), Logs, nil)
	require.EqualError(t, err, "cannot rewrite otlp request: nil attrs function")
	require.Equal(t, dst, out)
}

// TestSetResourceAttributesFuncPrefixes: on every prefix of realistic requests,
// SetResourceAttributesFunc does not panic, and succeeds as pdata expects where Check accepts.
func TestSetResourceAttributesFuncPrefixes(t *testing.T) {
	for _, tr := range append(k8sRequests(t), testRequests(t)...) {
		if len(tr.req) > 16<<10 {
			continue
		}
		for i := range len(tr.req) + 1 {
			p := tr.req[:i]
			if _, err := Check(tr.signal, p); err == nil {
				requireRewriteFunc(t, tr.signal, p, k8sAttrs)
			} else {
				_, _ = SetResourceAttributesFunc(nil, p, tr.signal, func(r Resource) []Attr { return k8sAttrs(0, r) })
			}
		}
	}
}

// podAttrs is a relay's pod cache: the attributes to set, by pod uid.
type podAttrs struct {
	pods map[string][]Attr
	uid  []byte
}

func (p *podAttrs) attrs(r Resource) []Attr {
	var ok bool
	if p.uid, ok = r.AppendStr(p.uid[:0], "k8s.pod.uid"); !ok {
		return nil
	}
	return p.pods[string(p.uid)]
}

func newPodAttrs() *podAttrs {
	p := &podAttrs{pods: map[string][]Attr{}, uid: make([]byte, 0, 64)}
	for i := range 8 {
		uid := fmt.Sprintf("6f1c2a4e-%04d", i)
		p.pods[uid] = []Attr{{"pod", "pod-" + uid}, {"service.name", "svc"}, {"k8s.node.name", "node-1"}}
	}
	return p
}

// TestSetResourceAttributesFuncAllocations: with a function that does not allocate, and dst
// large enough, SetResourceAttributesFunc does not allocate.
func TestSetResourceAttributesFuncAllocations(t *testing.T) {
	pods := newPodAttrs()
	for _, tr := range append(k8sRequests(t), testRequests(t)...) {
		dst := make([]byte, 0, 2*len(tr.req)+1024)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := SetResourceAttributesFunc(dst, tr.req, tr.signal, pods.attrs); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, tr.name)
	}
	// The check is not vacuous: the k8s requests get attributes.
	tr := k8sRequests(t)[0]
	out, err := SetResourceAttributesFunc(nil, tr.req, tr.signal, pods.attrs)
	require.NoError(t, err)
	require.Greater(t, len(out), len(tr.req))
}
