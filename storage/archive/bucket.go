package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
)

// ErrRewrite is returned when an object would be replaced by different bytes: vigil never
// rewrites an archived object.
var ErrRewrite = errors.New("refusing to rewrite an archived object")

// FilesystemBucket is objstore's filesystem bucket with an Upload that makes every object complete
// or absent: it writes a temporary file beside the final name, fsyncs it, renames it into place
// and fsyncs the directory, so a crash (even SIGKILL) never leaves a partial object under its
// final name.
type FilesystemBucket struct {
	*filesystem.Bucket
	root string
}

// NewFilesystemBucket opens (creating) a bucket rooted at dir.
func NewFilesystemBucket(dir string) (*FilesystemBucket, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create archive directory %q: %w", dir, err)
	}
	b, err := filesystem.NewBucket(dir)
	if err != nil {
		return nil, err
	}
	return &FilesystemBucket{Bucket: b, root: dir}, nil
}

// tmpPrefix starts the name of the temporary file of an Upload in progress.
const tmpPrefix = ".tmp-"

// Iter lists the objects under dir as objstore's filesystem bucket does, without the temporary
// files of uploads in progress (or left by a crash): they are not objects until renamed, and a
// reader that met one while vigil writes would take it for a damaged object.
func (b *FilesystemBucket) Iter(ctx context.Context, dir string, f func(string) error, options ...objstore.IterOption) error {
	return b.Bucket.Iter(ctx, dir, func(name string) error {
		if isUploadInProgress(name) {
			return nil
		}
		return f(name)
	}, options...)
}

// isUploadInProgress reports whether an object name is an Upload's temporary file.
func isUploadInProgress(name string) bool {
	return strings.HasPrefix(name[strings.LastIndexByte(name, '/')+1:], tmpPrefix)
}

// IterWithAttributes is Iter with the objects' attributes.
func (b *FilesystemBucket) IterWithAttributes(ctx context.Context, dir string, f func(objstore.IterObjectAttributes) error, options ...objstore.IterOption) error {
	return b.Bucket.IterWithAttributes(ctx, dir, func(attrs objstore.IterObjectAttributes) error {
		if isUploadInProgress(attrs.Name) {
			return nil
		}
		return f(attrs)
	}, options...)
}

// Upload writes the object atomically (see FilesystemBucket).
func (b *FilesystemBucket) Upload(ctx context.Context, name string, r io.Reader, _ ...objstore.ObjectUploadOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	final := filepath.Join(b.root, filepath.FromSlash(name))
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	tmp := filepath.Join(dir, tmpPrefix+filepath.Base(final)+"-"+hex.EncodeToString(suffix))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot write archive object %s: %w", name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Put stores an object once: if the name exists with the same bytes (a replay) it does nothing;
// with other bytes it returns ErrRewrite.
func Put(ctx context.Context, bkt objstore.Bucket, name string, data []byte) error {
	exists, err := bkt.Exists(ctx, name)
	if err != nil {
		return fmt.Errorf("cannot check archive object %s: %w", name, err)
	}
	if exists {
		rc, err := bkt.Get(ctx, name)
		if err != nil {
			return fmt.Errorf("cannot read archive object %s: %w", name, err)
		}
		defer rc.Close()
		have, err := io.ReadAll(rc)
		if err != nil {
			return fmt.Errorf("cannot read archive object %s: %w", name, err)
		}
		if !bytes.Equal(have, data) {
			return fmt.Errorf("%w: %s exists with other content", ErrRewrite, name)
		}
		return nil
	}
	return bkt.Upload(ctx, name, bytes.NewReader(data))
}
