package archivequery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-obs/vigil/storage/archive"
)

// indexFetchers bound the concurrent index reads (small objects; on S3 latency dominates).
const indexFetchers = 16

// prune drops the candidates whose index shows they cannot match. A candidate without an index,
// or whose index cannot be read or does not match its manifest entry, is kept (and scanned), and
// the problem is reported through Warn.
func (e *Engine) prune(ctx context.Context, cands []candidate, matchers []*labels.Matcher, st *Stats) []candidate {
	var relevant []*labels.Matcher
	for _, m := range matchers {
		if slices.Contains(archive.IndexedLabels, m.Name) {
			relevant = append(relevant, m)
		}
	}
	if len(relevant) == 0 {
		return cands
	}
	keep := make([]bool, len(cands))
	sem := make(chan struct{}, indexFetchers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range cands {
		keep[i] = true
		if cands[i].entry.Index == "" {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			idx, err := readIndex(ctx, e, cands[i].stream, cands[i].entry)
			var ie *indexError
			switch {
			case errors.As(err, &ie):
				mu.Lock()
				st.Problems = append(st.Problems, ie.problem)
				mu.Unlock()
				return
			case err != nil:
				e.warn(err)
				return
			}
			keep[i] = mayMatch(idx, relevant)
		})
	}
	wg.Wait()
	out := cands[:0]
	for i, c := range cands {
		if keep[i] {
			out = append(out, c)
		} else {
			st.ObjectsSkipped++
		}
	}
	return out
}

func mayMatch(idx *archive.Index, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		var literal []string
		switch m.Type {
		case labels.MatchEqual:
			literal = []string{m.Value}
		case labels.MatchRegexp:
			literal = m.SetMatches()
		}
		if !idx.MayContain(m.Name, m.Matches, literal) {
			return false
		}
	}
	return true
}

// errIndex is wrapped by the errors of readIndex.
var errIndex = errors.New("cannot use the index")

// indexError is the error of readIndex for an index that is missing or not as its manifest entry
// records: a problem of the archive.
type indexError struct {
	problem archive.Problem
	err     error
}

func (e *indexError) Error() string { return e.err.Error() }
func (e *indexError) Unwrap() error { return e.err }

func readIndex(ctx context.Context, e *Engine, s archive.Stream, en archive.Entry) (*archive.Index, error) {
	rc, err := e.Bucket.Get(ctx, en.Index)
	if e.Bucket.IsObjNotFoundErr(err) {
		return nil, &indexError{problem: archive.Problem{Kind: archive.ProblemIndexMissing, Seq: en.Seq, Object: en.Index,
			Manifest: s.ManifestName(en.Seq), Expected: en.IndexSHA256}, err: fmt.Errorf("%w of %s, scanning the object: %w", errIndex, en.Object, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("%w of %s, scanning the object: %w", errIndex, en.Object, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("%w of %s, scanning the object: %w", errIndex, en.Object, err)
	}
	if sum := sha256Hex(b); sum != en.IndexSHA256 {
		return nil, &indexError{problem: archive.Problem{Kind: archive.ProblemIndexModified, Seq: en.Seq, Object: en.Index,
			Manifest: s.ManifestName(en.Seq), Expected: en.IndexSHA256, Actual: sum},
			err: fmt.Errorf("%w of %s, scanning the object: %w: index sha256 %s, manifest entry %d says %s (run vigil archive verify)",
				errIndex, en.Object, archive.ErrMismatch, sum, en.Seq, en.IndexSHA256)}
	}
	idx, err := archive.DecodeIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%w of %s, scanning the object: %w", errIndex, en.Object, err)
	}
	return idx, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
