package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValidateReportsWhatStartRefusesOnTheAPIPort: an API port beyond loopback without readers,
// and http_api naming a disabled extension, fail `vigil validate` (as they fail start); readers
// on the extension or on the archivequery receiver mounted on it pass.
func TestValidateReportsWhatStartRefusesOnTheAPIPort(t *testing.T) {
	override := func(yaml string) string {
		p := filepath.Join(t.TempDir(), "override.yaml")
		require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
		return p
	}
	wide := "extensions:\n  httpapi:\n    endpoint: 0.0.0.0:3101\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"loopback without readers", "", ""},
		{"beyond loopback without readers", wide,
			`extensions::httpapi::readers: must be set when endpoint "0.0.0.0:3101" is not a loopback address: every path of the API port (mounted by exporters::alert, exporters::federate, receivers::archivequery) needs a reader's bearer token`},
		{"readers on the archivequery receiver", wide + "receivers:\n  archivequery:\n    readers: [{name: auditor-1, bearer_tokens: [auditor-1-token-0123456789]}]\n", ""},
		{"readers on the extension", wide + "    readers: [{name: grafana, bearer_tokens: [grafana-token-0123456789]}]\n", ""},
		{"http_api naming a disabled extension", "exporters:\n  alert:\n    http_api: httpapi/other\n",
			`exporters::alert::http_api: extension "httpapi/other" is not enabled`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"validate", "--config", "embedded:allinone.yaml"}
			if tc.yaml != "" {
				args = append(args, "--config", override(tc.yaml))
			}
			out, err := execute(t, args...)
			if tc.want == "" {
				require.NoError(t, err, out)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
