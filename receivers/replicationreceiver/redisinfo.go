package replicationreceiver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// redisReplication is the replication section of Redis's INFO, as far as the rules need it.
type redisReplication struct {
	Role             string // "master" or "slave"
	MasterReplOffset float64
	// On a master: its replicas.
	Replicas []redisReplica
	// On a replica.
	MasterLinkUp         bool
	SlaveReplOffset      float64
	MasterLastIOSecsAgo  float64
	MasterSyncInProgress bool
}

type redisReplica struct {
	IP, Port, State string
	Offset, Lag     float64
}

// parseRedisReplication parses the text of INFO replication ("key:value" lines). Unknown keys
// are ignored; a malformed known value is an error naming the key.
func parseRedisReplication(text string) (redisReplication, error) {
	var r redisReplication
	var errs []error
	num := func(k, v string) float64 {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot parse INFO replication %s: %q is not a number", k, v))
		}
		return f
	}
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case k == "role":
			r.Role = v
		case k == "master_repl_offset":
			r.MasterReplOffset = num(k, v)
		case k == "master_link_status":
			r.MasterLinkUp = v == "up"
		case k == "slave_repl_offset":
			r.SlaveReplOffset = num(k, v)
		case k == "master_last_io_seconds_ago":
			r.MasterLastIOSecsAgo = num(k, v)
		case k == "master_sync_in_progress":
			r.MasterSyncInProgress = v == "1"
		case strings.HasPrefix(k, "slave") && isIndex(k[len("slave"):]):
			// slave0:ip=10.0.0.2,port=6379,state=online,offset=1234,lag=0
			var rp redisReplica
			for field := range strings.SplitSeq(v, ",") {
				fk, fv, _ := strings.Cut(field, "=")
				switch fk {
				case "ip":
					rp.IP = fv
				case "port":
					rp.Port = fv
				case "state":
					rp.State = fv
				case "offset":
					rp.Offset = num(k+".offset", fv)
				case "lag":
					rp.Lag = num(k+".lag", fv)
				}
			}
			r.Replicas = append(r.Replicas, rp)
		}
	}
	if r.Role != "master" && r.Role != "slave" {
		errs = append(errs, fmt.Errorf("cannot parse INFO replication: role %q is neither master nor slave", r.Role))
	}
	return r, errors.Join(errs...)
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != "" && s[0] != '-' && s[0] != '+'
}
