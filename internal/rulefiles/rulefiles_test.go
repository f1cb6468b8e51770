package rulefiles

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpandAndLoadBuiltinPacks(t *testing.T) {
	files, err := Expand([]string{"builtin:*.yaml", "builtin:capacity.yaml"})
	require.NoError(t, err)
	require.Equal(t, []string{"builtin:capacity.yaml", "builtin:replication.yaml"}, files)

	loaded, err := Load([]string{"builtin:*.yaml"})
	require.NoError(t, err)
	require.Len(t, loaded, 2)
	require.Equal(t, "vigil-capacity", loaded[0].Groups[0].Name)
	require.Positive(t, loaded[1].Rules())

	_, err = Expand([]string{"builtin:nope.yaml"})
	require.EqualError(t, err, `cannot find rule files: "builtin:nope.yaml" matches no file`)
	_, errs := Parse("builtin:nope.yaml")
	require.Len(t, errs, 1)
	require.EqualError(t, errs[0], "builtin:nope.yaml: no such built-in rule pack")
}

func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(`groups:
  - name: a
    rules:
      - alert: X
        expr: rate(x[5m]
      - record: "y"
        expr: sum(
`), 0o600))
	_, err := Load([]string{filepath.Join(dir, "*.yaml"), filepath.Join(dir, "missing.yaml"), "[bad"})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`cannot find rule files: "` + filepath.Join(dir, "missing.yaml") + `" matches no file`,
		`cannot expand rule file pattern "[bad": syntax error in pattern`,
		`group "a", rule 1, "X": could not parse expression`,
		`group "a", rule 2, "y": could not parse expression`,
	} {
		require.Contains(t, msg, want)
	}
}
