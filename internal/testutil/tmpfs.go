package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// MountTmpfs mounts a tmpfs of sizeBytes on a new directory of the test and returns it: a small
// file system that really fills up (ENOSPC), for tests of what happens on a full disk without
// filling the real one. It is unmounted when the test ends. Mounting needs root (CAP_SYS_ADMIN):
// where it is refused the test is skipped, or fails in CI (CI=true) when it runs as root.
func MountTmpfs(t testing.TB, sizeBytes int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(sizeBytes, 10)+",mode=0700"); err != nil {
		msg := fmt.Sprintf("cannot mount a %d-byte tmpfs on %s to test a full disk (needs root / CAP_SYS_ADMIN): %v", sizeBytes, dir, err)
		if InCI() && os.Geteuid() == 0 {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			// Something still holds a file open: detach it now, it goes once the file is closed.
			_ = unix.Unmount(dir, unix.MNT_DETACH)
			t.Errorf("cannot unmount the tmpfs on %s cleanly: %v", dir, err)
		}
	})
	return dir
}

// FillDisk writes a file in dir until the file system is full (ENOSPC) and returns its path:
// removing it gives the space back.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("cannot create the filler file: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("cannot fill %s: %v", dir, err)
			}
			return path
		}
	}
}
