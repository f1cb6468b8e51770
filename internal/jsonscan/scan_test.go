package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

var validityCases = []string{
	`{}`, ` [] `, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":"d"}`, `"x"`, `0`, `-0`, `-0.5e+10`, `1E2`, `true`, `false`, `null`,
	`"\u00e9\n\t\\\/\""`, `"héllo"`, "\"\xff\xfe\"", `{"a" : 1 , "b" :[ ] }`,
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `01`, `1.`, `.5`, `1e`, `-`, `+1`, `tru`, `nul`, `falsey`,
	`"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", "\"a\nb\"", `"abc`, `{"a":1}x`, `[1 2]`, `{"a" 1}`, `{1:2}`, `"12345678\"90123456789"`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	`{"a":` + strings.Repeat(`{"b":`, MaxDepth-1) + `1` + strings.Repeat("}", MaxDepth),
	`{"a":` + strings.Repeat(`{"b":`, MaxDepth) + `1` + strings.Repeat("}", MaxDepth+1),
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validityCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.60q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func TestStringPlain(t *testing.T) {
	for _, tt := range []struct {
		in    string
		plain bool
	}{{`"abcdefghijklmnopqrstuvwxyz"`, true}, {`"abc\"def"`, false}, {`"abcdefghé"`, false}, {`""`, true}} {
		end, plain, ok := String([]byte(tt.in), 0)
		if !ok || end != len(tt.in) || plain != tt.plain {
			t.Errorf("String(%q) = %d, %v, %v; want %d, %v, true", tt.in, end, plain, ok, len(tt.in), tt.plain)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validityCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func benchDoc() []byte {
	return []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0000000000000001-0001-4f0e-9a41-5d0c9e2b7a10",` +
		`"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web-1","verb":"get","user":{"username":"system:serviceaccount:team-1:deployer",` +
		`"groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["10.0.1.7"],"userAgent":"kube-controller-manager/v1.31.2 (linux/amd64) ` +
		strings.Repeat("x", 1000) + `","objectRef":{"resource":"pods","namespace":"shop","name":"web-1","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},` +
		`"requestReceivedTimestamp":"2026-11-22T10:15:03.120456Z","stageTimestamp":"2026-11-22T10:15:03.131822Z"}`)
}

func BenchmarkValid(b *testing.B) {
	doc := benchDoc()
	for _, bb := range []struct {
		name  string
		valid func([]byte) bool
	}{{"jsonscan", Valid}, {"encoding_json", json.Valid}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if !bb.valid(doc) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
