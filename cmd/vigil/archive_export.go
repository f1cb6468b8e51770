package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/archivequery"
)

// exportManifest is written beside an export: what was asked, what was written, and the archive
// objects (with their manifest entries' chain hashes) the events came from.
type exportManifest struct {
	Format       string         `json:"format"` // vigil-export-v1
	VigilVersion string         `json:"vigil_version"`
	Created      string         `json:"created"`
	Bucket       string         `json:"bucket"`
	Query        string         `json:"query"`
	From         string         `json:"from,omitempty"`
	To           string         `json:"to,omitempty"`
	File         string         `json:"file"`
	SHA256       string         `json:"sha256"` // of File
	Bytes        int64          `json:"bytes"`
	Events       int            `json:"events"`
	Sources      []exportSource `json:"sources"`
	// ArchiveIntact is false when the archive was not intact where the export read: the events of
	// the objects named in ArchiveProblems (or of deleted manifest entries) are not in File.
	ArchiveIntact   bool              `json:"archive_intact"`
	ArchiveProblems []archive.Problem `json:"archive_problems,omitempty"`
}

type exportSource struct {
	Object    string `json:"object"`
	Seq       uint64 `json:"seq"`
	SHA256    string `json:"sha256"`     // of the archived object
	EntryHash string `json:"entry_hash"` // the manifest entry's chain hash
	Events    int    `json:"events"`     // events exported from it
}

func newArchiveExportCommand(a *archiveFlags) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "export LOGQL --out FILE",
		Short: "Export matching events as NDJSON evidence with a manifest of hashes",
		Long: `Write every event that matches a LogQL log query in --from/--to, oldest first and
exactly as archived, to FILE (NDJSON), and FILE.manifest.json: the query and range, the SHA-256 of
FILE, and each archive object the events came from with its SHA-256 and manifest chain hash, so
that an external auditor can check the evidence with sha256sum and trace it to the archive.
When the archive is not intact where the export read, the manifest says so (archive_intact: false,
archive_problems), the problems are listed on stderr, and the command exits with code 3 after
writing the events of the intact objects.

  vigil archive export '{cluster="prod-eu", user="alice"}' --from 2026-11-01 --to 2026-12-01 --out alice-nov.ndjson`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out: must name the file to write")
			}
			if _, err := archivequery.Parse(args[0]); err != nil {
				return err
			}
			q := archivequery.Query{Expr: args[0], Forward: true}
			results, st, where, err := a.runQuery(cmd, &q, "exporting")
			if err != nil {
				return err
			}
			from, to := q.From, q.To
			m := exportManifest{Format: "vigil-export-v1", VigilVersion: version, Created: time.Now().UTC().Format(time.RFC3339),
				Bucket: where, Query: args[0], File: out, Events: len(results), Sources: []exportSource{},
				ArchiveIntact: st.Intact(), ArchiveProblems: st.Problems}
			if !from.IsZero() {
				m.From = from.Format(time.RFC3339Nano)
			}
			if !to.IsZero() {
				m.To = to.Format(time.RFC3339Nano)
			}
			if m.SHA256, m.Bytes, err = writeEvidence(out, force, results); err != nil {
				return err
			}
			m.Sources = exportSources(results)
			if err := writeManifestFile(out+".manifest.json", force, m); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d events (%d bytes, sha256 %s) from %d archive objects to %s; manifest %s\n",
				m.Events, m.Bytes, m.SHA256, len(m.Sources), out, out+".manifest.json")
			return intact(st)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the NDJSON file to write (its manifest goes to FILE.manifest.json)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite FILE and its manifest if they exist")
	return cmd
}

// create opens path for writing; without force an existing file is an error (evidence is not
// overwritten by accident).
func create(path string, force bool) (*os.File, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cannot write %s: it exists (use --force to overwrite)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f, nil
}

// writeEvidence writes the raw events, one per line, and returns the file's SHA-256 and size.
func writeEvidence(path string, force bool, results []archivequery.Result) (string, int64, error) {
	f, err := create(path, force)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	var n int64
	for _, r := range results {
		k, _ := w.Write(r.Raw)
		_ = w.WriteByte('\n')
		n += int64(k) + 1
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return "", 0, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func exportSources(results []archivequery.Result) []exportSource {
	var out []exportSource
	index := map[*archive.Entry]int{}
	for _, r := range results {
		i, ok := index[r.Source]
		if !ok {
			i = len(out)
			index[r.Source] = i
			out = append(out, exportSource{Object: r.Source.Object, Seq: r.Source.Seq, SHA256: r.Source.SHA256, EntryHash: r.Source.Hash})
		}
		out[i].Events++
	}
	if out == nil {
		out = []exportSource{}
	}
	return out
}

func writeManifestFile(path string, force bool, m exportManifest) error {
	f, err := create(path, force)
	if err != nil {
		return err
	}
	if err := errors.Join(writeJSON(f, m), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}
