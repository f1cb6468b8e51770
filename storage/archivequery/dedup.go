package archivequery

// dedup drops, from results in time order, each result that repeats an earlier one: the same
// event (line) of the same tenant and cluster at the same time. Several writers (gateway replicas)
// archive a cluster side by side, each in its own stream, and an event that reached two of them
// (the apiserver retried on another replica) is in both streams; it is reported once, from the
// first object it was found in. Results that differ in time are never compared, so the common
// case costs one time comparison a result.
func dedup(results []Result) []Result {
	if len(results) < 2 {
		return results
	}
	out := results[:0]
	start := 0                   // where the results at the current time begin in out
	var seen map[string]struct{} // of the results at the current time; made for a second one
	for _, r := range results {
		if len(out) > start && !r.Time.Equal(out[start].Time) {
			start, seen = len(out), nil
		}
		if len(out) > start {
			if seen == nil {
				seen = map[string]struct{}{dedupKey(out[start]): {}}
			}
			k := dedupKey(r)
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		}
		out = append(out, r)
	}
	clear(results[len(out):]) // drop the references the duplicates held
	return out
}

// dedupKey identifies a result's event: its stream's tenant and cluster and the event as archived.
func dedupKey(r Result) string {
	return r.Labels.Get(LabelTenant) + "\x00" + r.Labels.Get(LabelCluster) + "\x00" + string(r.Raw)
}
