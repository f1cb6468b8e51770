package audit

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

const body = `{"auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"sourceIPs":["10.0.0.1","::1"],` +
	`"objectRef":{"resource":"pods","namespace":"ns","name":"p"}}`

var fields = Fields{AuditID: "a", Stage: "ResponseComplete", Verb: "get", User: "u", Namespace: "ns",
	Resource: "pods", Name: "p", SourceIPs: []string{"10.0.0.1", "::1"}}

// sealed is a record as the receiver makes it, with attributes beside the sealed ones.
func sealed() plog.LogRecord {
	lr := plog.NewLogRecord()
	lr.Body().SetStr(body)
	a := lr.Attributes()
	a.PutStr("k8s.audit.level", "Metadata")
	for k, v := range map[string]string{AttrAuditID: fields.AuditID, AttrStage: fields.Stage, AttrVerb: fields.Verb,
		AttrUsername: fields.User, AttrNamespace: fields.Namespace, AttrResource: fields.Resource, AttrName: fields.Name} {
		a.PutStr(k, v)
	}
	ips := a.PutEmptySlice(AttrSourceIPs)
	for _, ip := range fields.SourceIPs {
		ips.AppendEmpty().SetStr(ip)
	}
	a.PutInt(AttrAttestation, Attestation(body, &fields))
	return lr
}

func TestCheck(t *testing.T) {
	f, ok := Attested(sealed())
	require.True(t, ok)
	require.Equal(t, fields, f)
	require.True(t, IsAttested(sealed()))

	// The seal vouches for the body and each attribute it covers: a change to any breaks it.
	changes := map[string]func(plog.LogRecord){
		"body":         func(lr plog.LogRecord) { lr.Body().SetStr(body + " ") },
		"body type":    func(lr plog.LogRecord) { lr.Body().SetEmptyBytes().FromRaw([]byte(body)) },
		"no seal":      func(lr plog.LogRecord) { lr.Attributes().Remove(AttrAttestation) },
		"seal type":    func(lr plog.LogRecord) { lr.Attributes().PutStr(AttrAttestation, "1") },
		"another seal": func(lr plog.LogRecord) { lr.Attributes().PutInt(AttrAttestation, Attestation(body+" ", &fields)) },
		"ip added": func(lr plog.LogRecord) {
			v, _ := lr.Attributes().Get(AttrSourceIPs)
			v.Slice().AppendEmpty().SetStr("x")
		},
		"ip changed":   func(lr plog.LogRecord) { v, _ := lr.Attributes().Get(AttrSourceIPs); v.Slice().At(1).SetStr("::2") },
		"ip not str":   func(lr plog.LogRecord) { v, _ := lr.Attributes().Get(AttrSourceIPs); v.Slice().At(1).SetInt(1) },
		"ips not list": func(lr plog.LogRecord) { lr.Attributes().PutStr(AttrSourceIPs, "10.0.0.1") },
	}
	for _, k := range []string{AttrAuditID, AttrStage, AttrVerb, AttrUsername, AttrNamespace, AttrResource, AttrName} {
		changes[k+" changed"] = func(lr plog.LogRecord) { lr.Attributes().PutStr(k, "other") }
		changes[k+" removed"] = func(lr plog.LogRecord) { lr.Attributes().Remove(k) }
		changes[k+" not str"] = func(lr plog.LogRecord) { lr.Attributes().PutInt(k, 1) }
	}
	for name, change := range changes {
		lr := sealed()
		change(lr)
		_, ok := Attested(lr)
		require.False(t, ok, name)
	}
	// Attributes it does not cover may change.
	lr := sealed()
	lr.Attributes().PutStr("k8s.audit.level", "Request")
	lr.Attributes().PutStr("k8s.pod.name", "x")
	require.True(t, IsAttested(lr))
}

func TestSumSeparatesFields(t *testing.T) {
	a := Fields{AuditID: "ab", Stage: "c"}
	b := Fields{AuditID: "a", Stage: "bc"}
	require.NotEqual(t, Attestation("{}", &a), Attestation("{}", &b))
	c := Fields{SourceIPs: []string{"a", "b"}}
	d := Fields{SourceIPs: []string{"ab"}}
	require.NotEqual(t, Attestation("{}", &c), Attestation("{}", &d))
}

func BenchmarkCheck(b *testing.B) {
	lr := sealed()
	b.ReportAllocs()
	for b.Loop() {
		if !IsAttested(lr) {
			b.Fatal("broken")
		}
	}
}
