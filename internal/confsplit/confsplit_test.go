package confsplit

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
)

type own struct {
	Cluster string `mapstructure:"cluster"`
	Limit   int    `mapstructure:"limit"`
}

func TestEachPartGetsItsKeys(t *testing.T) {
	server := confighttp.NewDefaultServerConfig()
	var mine own
	conf := confmap.NewFromStringMap(map[string]any{
		"endpoint": "127.0.0.1:9201", "max_request_body_size": 1024, "cluster": "prod-eu-1", "limit": 7,
	})
	require.NoError(t, Unmarshal(conf, &server, &mine))
	require.Equal(t, "127.0.0.1:9201", server.NetAddr.Endpoint)
	require.Equal(t, int64(1024), server.MaxRequestBodySize)
	require.Equal(t, own{Cluster: "prod-eu-1", Limit: 7}, mine)

	err := Unmarshal(confmap.NewFromStringMap(map[string]any{"clustr": "x"}), &server, &mine)
	require.ErrorContains(t, err, "clustr", "an unknown key of the component's own is an error")
	require.True(t, Keys[confighttp.ClientConfig]()["endpoint"])
	require.True(t, Keys[confighttp.ServerConfig]()["endpoint"], "through the squashed address")
}
