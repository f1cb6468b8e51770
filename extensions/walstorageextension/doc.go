// Package walstorageextension offers vigil's durable log (storage/wal) as a collector storage
// extension. Exporters point their persistent sending_queue at it (`sending_queue: {storage:
// walstorage}`): each exporter keeps its own queue and progress under its own key prefix, while
// all of them share one log, so one fsync covers the writes of every destination that arrived
// together (group commit). A receiver's request is acknowledged only after that fsync.
package walstorageextension
