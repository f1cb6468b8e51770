package doccheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-obs/vigil/exporters/alertexporter"
	"github.com/vigil-obs/vigil/exporters/lokipushexporter"
	"github.com/vigil-obs/vigil/internal/promlabels"
)

// TestIdentityTableIsTheCode: every Kubernetes row of docs/identity.md says what the exporters do
// with that resource attribute — the promrw label (internal/promlabels), the alert core's label
// (its default promoted attributes) and the Loki label (lokipushexporter).
func TestIdentityTableIsTheCode(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "identity.md"))
	if err != nil {
		t.Fatal(err)
	}
	promoted := alertexporter.NewFactory().CreateDefaultConfig().(*alertexporter.Config).PromoteResourceAttributes
	rows := 0
	for _, line := range strings.Split(string(text), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`k8s.") {
			continue
		}
		rows++
		attr, prom, alert, loki := code(cells[1]), code(cells[2]), code(cells[3]), cells[4]
		if got, ok := promlabels.LabelOf(attr); !ok || got != prom {
			t.Errorf("%s: the table says Prometheus label %q, promlabels says %q", attr, prom, got)
		}
		if !slices.Contains(promoted, attr) || strings.ReplaceAll(attr, ".", "_") != alert {
			t.Errorf("%s: the table says alert core label %q; promoted by default: %v", attr, alert, slices.Contains(promoted, attr))
		}
		switch {
		case strings.Contains(loki, "label `workload`"):
			if !slices.Contains(lokipushexporter.WorkloadAttributes, attr) {
				t.Errorf("%s: the table says Loki label workload, lokipushexporter does not take it for workload", attr)
			}
		case strings.Contains(loki, "label `"):
			label := code(loki[strings.Index(loki, "label `")+len("label "):])
			if lokipushexporter.LabelAttributes[label] != attr {
				t.Errorf("%s: the table says Loki label %q, lokipushexporter maps that label to %q", attr, label, lokipushexporter.LabelAttributes[label])
			}
		case strings.Contains(loki, "structured metadata"):
			for label, a := range lokipushexporter.LabelAttributes {
				if a == attr {
					t.Errorf("%s: the table says structured metadata, lokipushexporter makes it label %q", attr, label)
				}
			}
		default:
			t.Errorf("%s: no Loki mapping in the table", attr)
		}
	}
	if rows < 8 {
		t.Fatalf("only %d Kubernetes rows found in docs/identity.md", rows)
	}
}

// code is the first `code span` of a table cell.
func code(cell string) string {
	_, rest, ok := strings.Cut(cell, "`")
	if !ok {
		return strings.TrimSpace(cell)
	}
	v, _, _ := strings.Cut(rest, "`")
	return v
}
