// Package wal is vigil's durable key-value log: every change is appended to a segment file and
// made durable with fsync before it is acknowledged, and concurrent writers share one fsync
// (group commit); values of 8 KiB and more are written from the callers' slices with pwritev,
// without a copy. Keys and the location of their latest value are held in memory; values stay
// on disk and are read back with pread. Old segments are compacted oldest-first. The on-disk
// format is described in storage/docs/wal-format.md.
package wal
