package rulestest

import (
	"os"
	"path/filepath"
	"testing"
)

// Parse never panics, whatever the input, and a file it accepts has an evaluation interval.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "cmd", "vigil", "testdata", "rulestest", "*_test.yml"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("tests:\n  - start_timestamp: 1e300\n"))
	f.Add([]byte("evaluation_interval: 0s\ntests: [{alert_rule_test: [{eval_time: 1m}]}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err == nil && file.EvaluationInterval <= 0 {
			t.Fatalf("accepted evaluation_interval %s", file.EvaluationInterval)
		}
	})
}
