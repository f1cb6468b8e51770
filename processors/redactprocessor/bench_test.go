package redactprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
)

// benchPod is a RequestResponse event about a pod: not sensitive, it must pass untouched and cheaply.
const benchPod = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"3f1a0c2e-1b7d-4f0e-9a41-5d0c9e2b7a10","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web","verb":"patch","user":{"username":"alice@example.com","groups":["ops","system:authenticated"]},"sourceIPs":["10.0.3.17"],"userAgent":"kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{"resource":"pods","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestObject":{"metadata":{"labels":{"tier":"web"}}},"requestReceivedTimestamp":"2026-11-22T10:15:03.120456Z","stageTimestamp":"2026-11-22T10:15:03.131822Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"ops\""}}`

// benchSecret is a create of a secret by kubectl apply: data and the last-applied annotation.
const benchSecret = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"8c2d1e44-5f6a-4b3c-8d2e-1f0a9b8c7d65","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/secrets?fieldManager=kubectl-client-side-apply\u0026fieldValidation=Strict","verb":"create","user":{"username":"system:serviceaccount:ci:deployer","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["10.0.3.17"],"userAgent":"kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{"resource":"secrets","namespace":"shop","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","namespace":"shop","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"password\":\"aHVudGVyMjIyMg==\"},\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},\"name\":\"db\",\"namespace\":\"shop\"},\"type\":\"Opaque\"}\n"}},"data":{"password":"aHVudGVyMjIyMg=="},"type":"Opaque"},"responseObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","namespace":"shop","uid":"5b8f0c1e-8f43-4a0e-9d61-0a4c3f1e2b77","resourceVersion":"48213","creationTimestamp":"2026-11-22T10:15:03Z","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"password\":\"aHVudGVyMjIyMg==\"},\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},\"name\":\"db\",\"namespace\":\"shop\"},\"type\":\"Opaque\"}\n"},"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1","time":"2026-11-22T10:15:03Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:password":{}},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"f:type":{}}}]},"data":{"password":"aHVudGVyMjIyMg=="},"type":"Opaque"},"requestReceivedTimestamp":"2026-11-22T10:15:03.120456Z","stageTimestamp":"2026-11-22T10:15:03.131822Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"ops\""}}`

func benchRedact(b *testing.B, resource, body string) {
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 100 {
		lr := lrs.AppendEmpty()
		lr.Attributes().PutStr("k8s.audit.object.resource", resource)
		lr.Attributes().PutStr("k8s.audit.verb", "create")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)) * 100)
	for b.Loop() {
		for i := 0; i < lrs.Len(); i++ {
			lrs.At(i).Body().SetStr(body)
		}
		if err := p.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotSensitive: 100 events about pods per batch.
func BenchmarkNotSensitive(b *testing.B) { benchRedact(b, "pods", benchPod) }

// BenchmarkSecret: 100 creates of secrets per batch.
func BenchmarkSecret(b *testing.B) { benchRedact(b, "secrets", benchSecret) }
