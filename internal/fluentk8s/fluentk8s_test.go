package fluentk8s

import (
	"reflect"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
	"github.com/ugorji/go/codec"
	"go.opentelemetry.io/collector/pdata/plog"
)

// enc writes msgpack the way Fluent Bit and fluentd write records: strings as str, nested maps.
func enc(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return msgp.AppendString(b, v)
	case []byte: // bin, as some fluentd plugins write
		return msgp.AppendBytes(b, v)
	case int:
		return msgp.AppendInt64(b, int64(v))
	case uint64:
		return msgp.AppendUint64(b, v)
	case float64:
		return msgp.AppendFloat64(b, v)
	case bool:
		return msgp.AppendBool(b, v)
	case nil:
		return msgp.AppendNil(b)
	case []any:
		b = msgp.AppendArrayHeader(b, uint32(len(v)))
		for _, e := range v {
			b = enc(b, e)
		}
		return b
	case map[string]any:
		b = msgp.AppendMapHeader(b, uint32(len(v)))
		for k, e := range v {
			b = enc(msgp.AppendString(b, k), e)
		}
		return b
	}
	panic("enc: unsupported type")
}

// decodeLikeFluentBitGo decodes as fluent-bit-go's output decoder does: ugorji's msgpack handle
// into an interface, giving map[interface{}]interface{} with []byte strings.
func decodeLikeFluentBitGo(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := codec.NewDecoderBytes(b, new(codec.MsgpackHandle)).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Shapes of real records: Fluent Bit's tail (docker and cri parsers) + kubernetes filter, and
// fluentd's in_tail + kubernetes_metadata filter.
var (
	fluentBitDocker = map[string]any{
		"log":    "{\"level\":\"warn\",\"msg\":\"disk almost full\"}\n",
		"stream": "stdout",
		"time":   "2026-12-07T05:01:02.123456789Z",
		"kubernetes": map[string]any{
			"pod_name":        "api-7d9f8b6c5-x2x9z",
			"namespace_name":  "shop",
			"pod_id":          "2fb67f34-52c5-4051-b67d-8379067fa820",
			"labels":          map[string]any{"app": "api", "pod-template-hash": "7d9f8b6c5", "app.kubernetes.io/name": "shop-api"},
			"annotations":     map[string]any{"prometheus.io/scrape": "true"},
			"host":            "node-3",
			"container_name":  "api",
			"docker_id":       "92d4de08c5c9c4777684f3eccc8c3509ede6e695c3ce8a1c9fa83ace172fbe37",
			"container_hash":  "registry.example/shop/api@sha256:22942642e04ac9f2a2aeaae828e14eb4c69f619ba5b89062675f41832bbf618a",
			"container_image": "registry.example/shop/api:1.4.2",
		},
	}
	fluentBitCRI = map[string]any{
		"time": "2026-12-07T05:01:03.5Z", "stream": "stderr", "logtag": "F",
		"log": "panic: runtime error: index out of range",
		"kubernetes": map[string]any{
			"pod_name": "worker-0", "namespace_name": "batch", "container_name": "worker", "host": "node-1",
		},
	}
	fluentdRecord = map[string]any{
		"log":    "E1207 05:01:04.000000       1 controller.go:42] sync failed\n",
		"stream": "stderr",
		"docker": map[string]any{"container_id": "2ed4013eaa21517aa615ccfef560f4979e594537a8fbfacf997e894cd9a95fb2"},
		"kubernetes": map[string]any{
			"container_name":     "login",
			"namespace_name":     "alto",
			"pod_name":           "login-64c79b44cb-sklhr",
			"container_image":    "gcr.io/kumo/login:0.0.1",
			"container_image_id": "gcr.io/kumo/login@sha256:22942642e04ac9f2a2aeaae828e14eb4c69f619ba5b89062675f41832bbf618a",
			"pod_id":             "978761c6-2a19-422f-b710-d43da2348f1f",
			"host":               "minikube",
			"master_url":         "https://10.96.0.1:443/api",
			"namespace_id":       "e192acd4-e6e7-46c2-8514-44a27a367749",
			"labels":             map[string]any{"app": "login"},
		},
	}
)

func TestMapRealShapes(t *testing.T) {
	tests := []struct {
		name     string
		rec      map[string]any
		resource []Attr
		body     any
		stream   string
		sev      plog.SeverityNumber
		time     time.Time
		attrs    map[string]any
	}{
		{
			name: "fluent bit docker parser",
			rec:  fluentBitDocker,
			resource: []Attr{
				{AttrNamespace, "shop"}, {AttrPodName, "api-7d9f8b6c5-x2x9z"},
				{AttrPodUID, "2fb67f34-52c5-4051-b67d-8379067fa820"}, {AttrContainer, "api"}, {AttrNode, "node-3"},
				{AttrImage, "registry.example/shop/api:1.4.2"},
				{AttrID, "92d4de08c5c9c4777684f3eccc8c3509ede6e695c3ce8a1c9fa83ace172fbe37"},
				{AttrLabel + "app.kubernetes.io/name", "shop-api"}, {AttrLabel + "app", "api"},
			},
			body:   `{"level":"warn","msg":"disk almost full"}`,
			stream: "stdout", sev: plog.SeverityNumberWarn,
			time:  time.Date(2026, 12, 7, 5, 1, 2, 123456789, time.UTC),
			attrs: map[string]any{},
		},
		{
			name:     "fluent bit cri parser, no api metadata",
			rec:      fluentBitCRI,
			resource: []Attr{{AttrNamespace, "batch"}, {AttrPodName, "worker-0"}, {AttrContainer, "worker"}, {AttrNode, "node-1"}},
			body:     "panic: runtime error: index out of range",
			stream:   "stderr", sev: plog.SeverityNumberError,
			time:  time.Date(2026, 12, 7, 5, 1, 3, 500000000, time.UTC),
			attrs: map[string]any{},
		},
		{
			name: "fluentd kubernetes_metadata",
			rec:  fluentdRecord,
			resource: []Attr{
				{AttrNamespace, "alto"}, {AttrPodName, "login-64c79b44cb-sklhr"},
				{AttrPodUID, "978761c6-2a19-422f-b710-d43da2348f1f"}, {AttrContainer, "login"}, {AttrNode, "minikube"},
				{AttrImage, "gcr.io/kumo/login:0.0.1"}, {AttrLabel + "app", "login"},
				{AttrID, "2ed4013eaa21517aa615ccfef560f4979e594537a8fbfacf997e894cd9a95fb2"}, // from docker.container_id
			},
			body:   "E1207 05:01:04.000000       1 controller.go:42] sync failed",
			stream: "stderr", sev: plog.SeverityNumberError,
			attrs: map[string]any{},
		},
		{
			name:   "fluentd message without kubernetes, level field, bin value",
			rec:    map[string]any{"message": "user logged in", "level": "debug", "user": []byte("alice"), "n": 3, "big": uint64(1 << 63)},
			body:   "user logged in",
			sev:    plog.SeverityNumberDebug,
			attrs:  map[string]any{"level": "debug", "user": "alice", "n": int64(3), "big": "9223372036854775808"},
			stream: "",
		},
		{
			name: "merged JSON: nested maps stay maps, message stays an attribute when log is the body",
			rec: map[string]any{"log": map[string]any{"msg": "ok", "ctx": map[string]any{"id": 7}}, "message": "m",
				"time": "not a time", "stream": "stdout", "kubernetes": map[string]any{"pod_name": "p"}},
			resource: []Attr{{AttrPodName, "p"}},
			body:     map[string]any{"msg": "ok", "ctx": map[string]any{"id": int64(7)}},
			stream:   "stdout", sev: plog.SeverityNumberInfo,
			attrs: map[string]any{"message": "m", "time": "not a time"},
		},
		{
			name:  "no body field",
			rec:   map[string]any{"cpu_p": 0.5, "kubernetes": "not a map"},
			sev:   plog.SeverityNumberInfo,
			attrs: map[string]any{"cpu_p": 0.5, "kubernetes": "not a map"},
		},
	}
	m := New(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through msgpack, as both Fluent Bit's plugin and the forward protocol carry it.
			r, ok := m.Map(decodeLikeFluentBitGo(t, enc(nil, tt.rec)))
			if !ok {
				t.Fatal("not mapped")
			}
			if !reflect.DeepEqual(r.Resource, tt.resource) {
				t.Errorf("resource\n got %v\nwant %v", r.Resource, tt.resource)
			}
			if !reflect.DeepEqual(r.Body, tt.body) {
				t.Errorf("body %#v, want %#v", r.Body, tt.body)
			}
			if r.Stream != tt.stream || r.Severity != tt.sev || !r.Time.Equal(tt.time) {
				t.Errorf("stream %q severity %v time %v, want %q %v %v", r.Stream, r.Severity, r.Time, tt.stream, tt.sev, tt.time)
			}
			if !reflect.DeepEqual(r.Attributes, tt.attrs) {
				t.Errorf("attributes\n got %#v\nwant %#v", r.Attributes, tt.attrs)
			}
		})
	}
}

func TestMapRejectsNonMaps(t *testing.T) {
	for _, v := range []any{nil, "line", []any{"a"}, int64(1)} {
		if _, ok := New(nil).Map(v); ok {
			t.Errorf("%#v mapped", v)
		}
	}
}

func TestFillAndKey(t *testing.T) {
	m := New([]string{"team"})
	rec := map[string]any{"log": "hello\n", "stream": "stderr", "kubernetes": map[string]any{
		"namespace_name": "ns", "pod_name": "p", "labels": map[string]any{"team": "core", "app": "x"}}}
	r, _ := m.Map(decodeLikeFluentBitGo(t, enc(nil, rec)))
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	r.PutResource(rl.Resource().Attributes())
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.Fill(lr)
	got := rl.Resource().Attributes().AsRaw()
	want := map[string]any{AttrNamespace: "ns", AttrPodName: "p", AttrLabel + "team": "core"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resource %v, want %v", got, want)
	}
	if lr.Body().Str() != "hello" || lr.SeverityNumber() != plog.SeverityNumberError || lr.SeverityText() != "ERROR" {
		t.Errorf("record %q %v %q", lr.Body().Str(), lr.SeverityNumber(), lr.SeverityText())
	}
	if v, _ := lr.Attributes().Get(AttrStream); v.Str() != "stderr" {
		t.Errorf("log.iostream %q", v.Str())
	}
	other, _ := New([]string{"team"}).Map(map[string]any{"kubernetes": map[string]any{"namespace_name": "ns", "pod_name": "q"}})
	if r.Key() == other.Key() {
		t.Error("different pods share a key")
	}
	same, _ := m.Map(map[string]any{"message": "x", "kubernetes": map[string]any{"namespace_name": "ns", "pod_name": "p", "labels": map[string]any{"team": "core"}}})
	if r.Key() != same.Key() {
		t.Error("the same pod has two keys")
	}
}

func FuzzMap(f *testing.F) {
	f.Add(enc(nil, fluentBitDocker))
	f.Add(enc(nil, fluentdRecord))
	m := New(nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if codec.NewDecoderBytes(b, new(codec.MsgpackHandle)).Decode(&v) != nil {
			return
		}
		r, ok := m.Map(v)
		if !ok {
			return
		}
		lr := plog.NewLogRecord()
		r.Fill(lr)
	})
}
