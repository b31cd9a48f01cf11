package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

// TestSecondDaemonRefusedByLock: a second daemon for the same state directory, whatever its status path, is
// refused and told the first one's PID; once the first releases the lock, a new one starts.
func TestSecondDaemonRefusedByLock(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	if err == nil || !strings.Contains(err.Error(), "(pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second Lock = %v, want a refusal naming pid %d", err, os.Getpid())
	}
	release()
	release2, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	release2()
}

// TestStatusPathKeepsOtherFiles: --status naming a regular file (or a directory) is refused and the file is
// left as it was; only a stale socket is replaced.
func TestStatusPathKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.txt")
	if err := os.WriteFile(file, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, dir} {
		if l, err := Listen(path); err == nil || !strings.Contains(err.Error(), "is not a socket") {
			if l != nil {
				l.Close()
			}
			t.Errorf("Listen(%s) = %v, want a refusal", path, err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "data" {
		t.Errorf("the file was changed: %q, %v", b, err)
	}
	// A stale socket (its daemon gone) is replaced.
	sock := filepath.Join(dir, "s.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l, err = Listen(sock)
	if err != nil {
		t.Fatalf("a stale socket was not replaced: %v", err)
	}
	l.Close()
}

// TestLockNamesHolderWithoutPIDFile: the holder's PID comes from the kernel's list of locks, so a lock file
// that holds no PID (its holder could not write it: a full disk) still names it; it said "pid unknown".
func TestLockNamesHolderWithoutPIDFile(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := os.Truncate(filepath.Join(dir, LockFile), 0); err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	if err == nil || !strings.Contains(err.Error(), "(pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second Lock = %v, want a refusal naming pid %d", err, os.Getpid())
	}
}

// TestLockOnFullDisk: on a file system with no free block the lock is still taken and a second daemon is told
// the first one's PID.
func TestLockOnFullDisk(t *testing.T) {
	dir := fullDir(t)
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = Lock(dir)
	if err == nil || !strings.Contains(err.Error(), "(pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second Lock = %v, want a refusal naming pid %d", err, os.Getpid())
	}
}

func TestLockHolder(t *testing.T) {
	locks := filepath.Join(t.TempDir(), "locks")
	const listing = "1: POSIX  ADVISORY  WRITE 10 00:2e:77 0 EOF\n" +
		"2: FLOCK  ADVISORY  WRITE 4242 fe:01:77 0 EOF\n" +
		"2: -> FLOCK  ADVISORY  WRITE 5151 fe:01:77 0 EOF\n" +
		"3: FLOCK  ADVISORY  WRITE 99 00:2e:77 0 EOF\n"
	if err := os.WriteFile(locks, []byte(listing), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		dev, ino uint64
		want     string
	}{
		{"flock held", unix.Mkdev(0xfe, 1), 77, "4242"},
		{"another device", unix.Mkdev(0, 0x2e), 77, "99"},
		{"no lock", unix.Mkdev(0xfe, 1), 78, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lockHolder(locks, tc.dev, tc.ino); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// fullDir is a directory on a small tmpfs whose blocks are all taken: files can be created there, but not
// written. It needs root (mount) and is unmounted when the test ends.
func fullDir(t *testing.T) string {
	t.Helper()
	netnstest.NeedRoot(t, "a full file system takes mount -t tmpfs")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			return dir
		}
	}
}
