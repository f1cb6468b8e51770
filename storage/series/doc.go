// Package series is the in-memory series store of the streaming alert core. It keeps only the
// series that the loaded rules select, and of each only the time window the rules look at (range,
// offset, subquery range, lookback delta and the group's query offset: see Needs), bounded by a
// maximum number of series. It implements Prometheus's storage.Queryable, so that Prometheus's
// own PromQL engine and rules package evaluate over it, and storage.Appendable, so that recording
// rules feed their results back.
//
// Samples are held compressed in Prometheus's XOR chunks (tsdb/chunkenc), cut so that each spans
// about a quarter of the series' window; a chunk is dropped as a whole once all its samples are
// older than the window, and queries see exactly the samples inside the window.
//
// Samples of a series must arrive in time order (as in Prometheus's TSDB without out-of-order
// ingestion); staleness markers (value.StaleNaN) are stored like samples and interpreted by the
// engine exactly as over the TSDB.
package series
