package doccheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// componentKinds are the folders whose subfolders are components (one each).
var componentKinds = []string{"receivers", "processors", "exporters", "extensions", "connectors"}

// TestEveryComponentIsGenerated: every component folder has a metadata.yaml and what mdatagen
// makes of it (`make generate`): the generated lifecycle test and the generated status; one whose
// metadata.yaml declares telemetry has the generated documentation.md, and no component makes its
// own instruments outside the generated TelemetryBuilder (MeterProvider.Meter in hand-written
// code): its metrics are the ones metadata.yaml lists.
func TestEveryComponentIsGenerated(t *testing.T) {
	root := repoRoot(t)
	n := 0
	for _, kind := range componentKinds {
		entries, err := os.ReadDir(filepath.Join(root, kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			n++
			dir := filepath.Join(kind, e.Name())
			checkComponent(t, root, dir)
		}
	}
	if n < 20 { // the walk found the components at all
		t.Fatalf("only %d component folders under %v", n, componentKinds)
	}
}

func checkComponent(t *testing.T, root, dir string) {
	t.Helper()
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(root, dir, name))
		return err == nil
	}
	meta, err := os.ReadFile(filepath.Join(root, dir, "metadata.yaml"))
	if err != nil {
		t.Errorf("%s: no metadata.yaml (every component is described for mdatagen; see the README on make generate)", dir)
		return
	}
	for _, f := range []string{"generated_component_test.go", "internal/metadata/generated_status.go"} {
		if !exists(f) {
			t.Errorf("%s: no %s: run make generate", dir, f)
		}
	}
	if strings.Contains(string(meta), "\ntelemetry:") {
		for _, f := range []string{"documentation.md", "internal/metadata/generated_telemetry.go"} {
			if !exists(f) {
				t.Errorf("%s: metadata.yaml declares telemetry but %s is missing: run make generate", dir, f)
			}
		}
	}
	err = filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || path == filepath.Join(root, dir, "internal", "metadata") ||
				path == filepath.Join(root, dir, "internal", "metadatatest") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(text), "MeterProvider.Meter(") {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s: makes its own meter; declare the metrics in %s/metadata.yaml and use the generated TelemetryBuilder", rel, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
