package allroles

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/internal/components"
)

func keys[F any](m map[component.Type]F) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out
}

// TestAgentIsASubsetOfVigil: every component of vigil-agent is in vigil, so a configuration the
// agent runs, vigil runs too; and the agent leaves out what only other roles use.
func TestAgentIsASubsetOfVigil(t *testing.T) {
	agent, err := components.Agent()
	require.NoError(t, err)
	all, err := All(false)
	require.NoError(t, err)
	for _, kind := range []struct {
		name       string
		agent, all []string
	}{
		{"receivers", keys(agent.Receivers), keys(all.Receivers)},
		{"processors", keys(agent.Processors), keys(all.Processors)},
		{"exporters", keys(agent.Exporters), keys(all.Exporters)},
		{"extensions", keys(agent.Extensions), keys(all.Extensions)},
		{"connectors", keys(agent.Connectors), keys(all.Connectors)},
	} {
		require.Subset(t, kind.all, kind.agent, "the agent's %s are vigil's", kind.name)
	}
	require.NotNil(t, agent.Telemetry)

	// What the shipped agent config and its overlays name (fluentforward: the contrib receiver's
	// deprecated alias of fluent_forward) (deploy/config/agent.yaml,
	// agent-pod-metadata.yaml, deploy/examples/fluentforward-in.yaml).
	require.Equal(t, []string{"containerlogs", "fluent_forward", "fluentforward", "k8saudit", "otlp", "otlprelay"}, keys(agent.Receivers))
	require.Equal(t, []string{"fluentk8s", "k8senrich", "memory_limiter", "redact"}, keys(agent.Processors))
	require.Subset(t, keys(agent.Exporters), []string{"nop", "otlp_grpc"})
	require.Subset(t, keys(agent.Extensions), []string{"bodylimit", "health_check", "walstorage"})
	for _, gatewayOnly := range []string{"prometheus", "promrw", "lokipush", "archivequery"} {
		require.NotContains(t, keys(agent.Receivers), gatewayOnly)
	}
	for _, gatewayOnly := range []string{"alert", "archive", "opensearch", "lokipush", "promrw"} {
		require.NotContains(t, keys(agent.Exporters), gatewayOnly)
	}
	require.Empty(t, agent.Connectors)
}
