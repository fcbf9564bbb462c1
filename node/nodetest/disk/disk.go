// Package disk gives fault tests small disks of their own: a tmpfs of a
// given size to fill or make read-only under a running node or storage.
// It needs root; without it (or without tmpfs) its helpers skip the test,
// unless HERD_REQUIRE_TMPFS=1 (CI) makes them fail it. It imports nothing
// of the herd but the polling helper, so the tests of any package can use
// it.
package disk

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/herdhq/herd/node/nodetest/wait"
)

// RequireEnv makes a missing tmpfs a failure rather than a skip.
const RequireEnv = "HERD_REQUIRE_TMPFS"

// Tmpfs mounts a tmpfs of size bytes on a new directory, unmounted at the
// end of the test, or skips (fails with HERD_REQUIRE_TMPFS=1) where it
// cannot.
func Tmpfs(t *testing.T, size int) string {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but no tmpfs: %s", RequireEnv, why)
		}
		t.Skipf("needs a tmpfs mount (root): %s; set %s=1 to fail instead", why, RequireEnv)
	}
	if os.Geteuid() != 0 {
		skip("not root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		skip(fmt.Sprintf("mount tmpfs: %v", err))
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Remount makes a tmpfs read-only or writable again. A file open for
// writing makes the kernel refuse (EBUSY), so it retries until whoever
// writes has closed its files.
func Remount(t *testing.T, dir string, ro bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT)
	if ro {
		flags |= syscall.MS_RDONLY
	}
	wait.For(t, fmt.Sprintf("remount %s ro=%v", dir, ro), func() bool {
		return syscall.Mount("", dir, "", flags, "") == nil
	})
}

// Fill writes path until its file system is full.
func Fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}
