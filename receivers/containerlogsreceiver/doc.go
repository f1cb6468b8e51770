// Package containerlogsreceiver tails the container log files the kubelet keeps on every node,
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log, in the CRI format (containerd,
// CRI-O) and in Docker's json-file format. It joins partial lines, and optionally the lines of
// one multiline message (stack traces) by a start pattern; it follows rotation by rename and by
// copytruncate, and keeps each file's position in a storage extension (walstorage), committed
// only once the pipeline accepted what was read, so that a restart loses no line (a line is read
// again only when the process died between the records' write and the positions'). Records
// carry the pod's identity from the path (and, with pod_metadata, its workload and labels from
// the Kubernetes API) and a severity from the stream and common level fields.
//
// The parsers (parse.go, severity.go) and the assembly of lines into records (assemble.go) are
// free of files and pipelines; tail.go reads files, receiver.go wires them to the pipeline.
package containerlogsreceiver
