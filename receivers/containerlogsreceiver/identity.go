package containerlogsreceiver

import (
	"path/filepath"
	"strconv"
	"strings"
)

// identity is what the path of a kubelet log file says of the container:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log.
type identity struct {
	Namespace, Pod, UID, Container string
	Restart                        int64 // -1 when the file name is not <n>.log
}

// identityOf reads the identity from path; ok is false when path is not laid out as the
// kubelet lays out /var/log/pods (namespaces and pod names cannot contain '_').
func identityOf(path string) (identity, bool) {
	dir, file := filepath.Split(path)
	podDir, container := filepath.Split(filepath.Clean(dir))
	parts := strings.Split(filepath.Base(podDir), "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || container == "" {
		return identity{Restart: -1}, false
	}
	id := identity{Namespace: parts[0], Pod: parts[1], UID: parts[2], Container: container, Restart: -1}
	if n, err := strconv.ParseInt(strings.TrimSuffix(file, ".log"), 10, 64); err == nil && strings.HasSuffix(file, ".log") && n >= 0 {
		id.Restart = n
	}
	return id, true
}
