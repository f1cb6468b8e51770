package replicationreceiver

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const masterInfo = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
	"slave0:ip=10.0.0.2,port=6379,state=online,offset=1000,lag=0\r\n" +
	"slave1:ip=10.0.0.3,port=6380,state=wait_bgsave,offset=0,lag=12\r\n" +
	"master_failover_state:no-failover\r\nmaster_replid:abc\r\nmaster_repl_offset:5000\r\nrepl_backlog_active:1\r\n"

const replicaInfo = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\n" +
	"master_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\n" +
	"slave_read_repl_offset:4000\r\nslave_repl_offset:4000\r\nslave_priority:100\r\nslave_read_only:1\r\n" +
	"replica_announced:1\r\nconnected_slaves:0\r\nmaster_repl_offset:4000\r\n"

func TestParseRedisReplication(t *testing.T) {
	m, err := parseRedisReplication(masterInfo)
	require.NoError(t, err)
	require.Equal(t, redisReplication{Role: "master", MasterReplOffset: 5000, Replicas: []redisReplica{
		{IP: "10.0.0.2", Port: "6379", State: "online", Offset: 1000, Lag: 0},
		{IP: "10.0.0.3", Port: "6380", State: "wait_bgsave", Offset: 0, Lag: 12},
	}}, m)

	r, err := parseRedisReplication(replicaInfo)
	require.NoError(t, err)
	require.Equal(t, redisReplication{Role: "slave", MasterReplOffset: 4000, SlaveReplOffset: 4000, MasterLastIOSecsAgo: -1}, r)

	_, err = parseRedisReplication("role:master\r\nmaster_repl_offset:x\r\n")
	require.EqualError(t, err, `cannot parse INFO replication master_repl_offset: "x" is not a number`)
	_, err = parseRedisReplication("")
	require.EqualError(t, err, `cannot parse INFO replication: role "" is neither master nor slave`)
}

func FuzzParseRedisReplication(f *testing.F) {
	f.Add(masterInfo)
	f.Add(replicaInfo)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRedisReplication(s)
		if err == nil && r.Role != "master" && r.Role != "slave" {
			t.Fatalf("accepted role %q", r.Role)
		}
	})
}
