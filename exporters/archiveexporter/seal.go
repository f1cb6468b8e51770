package archiveexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/storage/archive"
)

// chunk is the NDJSON of the events of one cluster and one hour (UTC) in one ConsumeLogs call.
type chunk struct {
	key         string // its staging key (chunkKey), once staged
	hour        int64  // hourOf its events
	data        []byte
	events      int
	first, last time.Time
	// receivedFirst and receivedLast bound when vigil received the events (receivedTime).
	receivedFirst, receivedLast time.Time
	keys                        []audit.Key
	attested                    *archive.FieldsList // the fields of the events the receiver attested (nil: none)
	unattested                  []int               // the lines of the other events
}

// chunkIndex is what the sealer needs of a staged chunk to index it (see indexed).
type chunkIndex struct {
	fields     *archive.FieldsList
	unattested []int // lines not in fields, which the sealer reads
	lines      int
}

// attestation is what audit.Attested says of a record.
type attestation struct {
	fields audit.Fields
	ok     bool
}

// checkAttestations checks the audit receiver's attestations of ld's records, in order.
func checkAttestations(ld plog.Logs) []attestation {
	checks := make([]attestation, 0, ld.LogRecordCount())
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				f, ok := audit.Attested(lrs.At(k))
				checks = append(checks, attestation{fields: f, ok: ok})
			}
		}
	}
	return checks
}

// add appends an event: line, its staged line (stagedLine; rewritten: not the body as received),
// t its time (eventTime), received when vigil received it, key its key when identified; att is
// what the receiver's attestation says (checkAttestations).
func (c *chunk) add(line string, rewritten bool, t, received time.Time, key audit.Key, identified bool, att *attestation) {
	if identified {
		c.keys = append(c.keys, key)
	}
	switch {
	case rewritten || !att.ok:
		c.unattested = append(c.unattested, c.events)
	default: // the line is the body the fields were read from
		if c.attested == nil {
			c.attested = &archive.FieldsList{}
		}
		c.attested.Add(&att.fields)
	}
	c.data = append(c.data, line...)
	c.data = append(c.data, '\n')
	c.events++
	if c.events == 1 || t.Before(c.first) {
		c.first = t
	}
	if c.events == 1 || t.After(c.last) {
		c.last = t
	}
	if c.events == 1 || received.Before(c.receivedFirst) {
		c.receivedFirst = received
	}
	if c.events == 1 || received.After(c.receivedLast) {
		c.receivedLast = received
	}
}

// sealLoop seals objects that are big or old enough and writes sealed objects, every second.
func (e *archiveExporter) sealLoop() {
	defer close(e.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := e.flush(context.Background(), false); err != nil {
			e.logger.Warn("cannot write archive objects yet; they stay staged and are retried", zap.Error(err))
		}
		if err := e.sealChains(context.Background(), false); err != nil {
			e.logger.Warn("cannot seal the archive chain yet; retried", zap.Error(err))
		}
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
	}
}

// flush seals the open objects that are due (all of them with all) and writes every sealed one.
func (e *archiveExporter) flush(ctx context.Context, all bool) error {
	e.mu.Lock()
	clusters := make([]string, 0, len(e.streams))
	for c := range e.streams {
		clusters = append(clusters, c)
	}
	e.mu.Unlock()
	var errs []error
	for _, c := range clusters {
		if err := e.sealIfDue(ctx, c, all); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, e.writeSealed(ctx, c))
	}
	return errors.Join(errs...)
}

// sealIfDue freezes the open object of cluster and opens the next one; the decision is durable
// before anything is written, so a replay writes the same object.
func (e *archiveExporter) sealIfDue(ctx context.Context, cluster string, all bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.streams[cluster]
	o := s.Open
	due := all || o.Bytes >= e.cfg.MaxObjectBytes || time.Since(o.Opened) >= e.cfg.MaxObjectAge
	if o.Chunks == 0 || !due {
		return nil
	}
	next := *s
	next.Sealed = append(append([]openObject(nil), s.Sealed...), o)
	next.Open = openObject{Seq: o.Seq + 1}
	b, _ := json.Marshal(next)
	if err := e.client.Set(ctx, stateKey(cluster), b); err != nil {
		return fmt.Errorf("cannot seal archive object %d of cluster %q: %w", o.Seq, cluster, err)
	}
	e.streams[cluster] = &next
	return nil
}

// writeSealed writes the sealed objects of cluster in order, each with its manifest entry, and
// then drops their staged chunks.
func (e *archiveExporter) writeSealed(ctx context.Context, cluster string) error {
	for {
		e.mu.Lock()
		s := e.streams[cluster]
		if len(s.Sealed) == 0 {
			e.mu.Unlock()
			return nil
		}
		o, head, stream := s.Sealed[0], s.Head, e.stream(cluster, s)
		e.mu.Unlock()

		raw, ends, err := e.readChunks(ctx, cluster, o)
		if err != nil {
			return err
		}
		if head != nil && head.Seq+1 != o.Seq {
			return fmt.Errorf("archive chain of cluster %q expects object %d, staged is %d", cluster, head.Seq+1, o.Seq)
		}
		entry, err := archive.AppendIndexed(ctx, e.bucket, stream, head,
			archive.Span{First: o.First, Last: o.Last, ReceivedFirst: o.ReceivedFirst, ReceivedLast: o.ReceivedLast},
			raw, e.indexObject(cluster, o, raw, ends))
		if err != nil {
			return fmt.Errorf("cannot write archive object %d of cluster %q: %w", o.Seq, cluster, err)
		}
		e.mu.Lock()
		next := *e.streams[cluster]
		next.Sealed = next.Sealed[1:]
		next.Head = &entry
		b, _ := json.Marshal(next)
		ops := []*storage.Operation{storage.SetOperation(stateKey(cluster), b)}
		for i := range o.Chunks {
			ops = append(ops, storage.DeleteOperation(chunkKey(cluster, o.Seq, i)))
		}
		err = e.client.Batch(ctx, ops...)
		if err == nil {
			e.streams[cluster] = &next
			for i := range o.Chunks {
				if ci := e.indexed[chunkKey(cluster, o.Seq, i)]; ci != nil {
					e.indexedBytes -= ci.fields.Size()
					delete(e.indexed, chunkKey(cluster, o.Seq, i))
				}
			}
		}
		e.mu.Unlock()
		if err != nil {
			return err
		}
		e.objects.Add(ctx, 1)
		e.events.Add(ctx, int64(entry.Events))
		if !o.Opened.IsZero() {
			e.lag.Record(ctx, time.Since(o.Opened).Seconds())
		}
	}
}

// appender is the part of walstorage's client that reads into a buffer of the caller's.
type appender interface {
	GetAppend(dst []byte, key string) ([]byte, bool, error)
}

// indexObject gathers the index fields of the staged object o of cluster, whose NDJSON is raw
// and whose chunks end at ends: the fields of its attested events as staged (indexed), and the
// other lines read.
func (e *archiveExporter) indexObject(cluster string, o openObject, raw []byte, ends []int) *archive.IndexBuilder {
	b := archive.NewIndexBuilder()
	start := 0
	for i, end := range ends {
		lines := archive.SplitLines(raw[start:end])
		start = end
		e.mu.Lock()
		ci := e.indexed[chunkKey(cluster, o.Seq, i)]
		e.mu.Unlock()
		if ci == nil || ci.lines != len(lines) {
			for _, line := range lines {
				b.AddLine(line)
			}
			continue
		}
		b.AddList(ci.fields)
		for _, j := range ci.unattested {
			b.AddLine(lines[j])
		}
	}
	return b
}

// readChunks returns the NDJSON of the staged object o of cluster: its chunks, one after the
// other, and where each ends (a chunk whose staging write failed is absent: empty). It reads them into e.sealBuf, which it keeps for the next object:
// the sealer alone calls it (sealLoop, then Shutdown once sealLoop is done).
func (e *archiveExporter) readChunks(ctx context.Context, cluster string, o openObject) (_ []byte, ends []int, _ error) {
	raw := slices.Grow(e.sealBuf[:0], o.Bytes)
	ends = make([]int, 0, o.Chunks)
	for i := range o.Chunks {
		var (
			found bool
			err   error
		)
		if a, ok := e.client.(appender); ok {
			raw, found, err = a.GetAppend(raw, chunkKey(cluster, o.Seq, i))
		} else {
			var data []byte
			data, err = e.client.Get(ctx, chunkKey(cluster, o.Seq, i))
			raw, found = append(raw, data...), data != nil
		}
		if err != nil {
			return nil, nil, err
		}
		if !found {
			// Its staging write failed (a full disk): the chunk and the state that counts it are
			// one atomic batch, so a counted chunk is absent only when its own batch was refused —
			// its events were answered with an error, and are staged again when re-sent.
			e.logger.Warn("skipping an archive chunk whose staging write failed; its events were refused and are retried by their sender",
				zap.String("cluster", cluster), zap.Uint64("object", o.Seq), zap.Int("chunk", i))
		}
		ends = append(ends, len(raw))
	}
	e.sealBuf = raw
	return raw, ends, nil
}
