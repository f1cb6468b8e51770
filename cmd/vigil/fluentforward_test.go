package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	fluentAgentExample   = filepath.Join("..", "..", "deploy", "examples", "fluentforward-in.yaml")
	fluentGatewayExample = filepath.Join("..", "..", "deploy", "examples", "fluentforward-in-gateway.yaml")
)

// TestFluentForwardExamplesValidate: the forward overlays validate on their role configs. The
// records' way through them is tested in cmd/vigil/fluentforwardtest.
func TestFluentForwardExamplesValidate(t *testing.T) {
	for _, args := range [][]string{
		{"--config", "embedded:agent.yaml", "--config", fluentAgentExample},
		{"--config", "embedded:gateway.yaml", "--config", fluentGatewayExample},
	} {
		roleEnv(t)
		t.Setenv("VIGIL_FLUENT_CLUSTER", "beside-gateway")
		msg, err := execute(t, append([]string{"validate"}, args...)...)
		require.NoError(t, err, "%v: %s", args, msg)
	}
}
