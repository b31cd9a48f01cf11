package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// LockFile is the single-instance lock's name in the state directory.
const LockFile = "hairpin.lock"

// Lock makes this the only daemon for the state directory dir: it holds an flock on dir/hairpin.lock, which
// records its PID, until release is called or the process ends (a crash releases it too). Two daemons
// with the same config but different status listeners used to run at once and undo each other's rules at
// every resync.
func Lock(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, errfmt.Errorf("single-instance lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errfmt.Errorf("another hairpin daemon (pid %s) is running for state directory %s (lock %s); stop it first", holder(f), dir, path)
		}
		return nil, errfmt.Errorf("single-instance lock %s: %w", path, err)
	}
	writePID(f)
	return func() { f.Close() }, nil
}

// writePID records this process's PID in the lock file. The new PID is written over the old one before the
// file is cut to length, so on a full disk the block the file already has is reused; holder does not depend
// on it either way.
func writePID(f *os.File) {
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if _, err := f.WriteAt(pid, 0); err == nil {
		_ = f.Truncate(int64(len(pid)))
	}
}

// holder names the process holding the lock on f: the kernel's list of locks says it whatever the file
// holds (a daemon on a full disk could not write its PID); the PID written in the file is the fallback
// where /proc is not mounted.
func holder(f *os.File) string {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err == nil {
		if pid := lockHolder("/proc/locks", uint64(st.Dev), st.Ino); pid != "" {
			return pid
		}
	}
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	pid := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// lockHolder finds in a /proc/locks listing the PID holding an FLOCK on the file dev:ino. A line reads
// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiting lock ("1: -> FLOCK ...") is not the holder.
func lockHolder(locksFile string, dev, ino uint64) string {
	data, err := os.ReadFile(locksFile)
	if err != nil {
		return ""
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), ino)
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		if fields[5] == want {
			if _, err := strconv.Atoi(fields[4]); err == nil {
				return fields[4]
			}
		}
	}
	return ""
}

// Holder says which process holds the daemon lock of state directory dir: its PID, or 0 when no daemon runs
// for it. It takes no lock when /proc/locks can say (a one-shot command must never make a starting daemon
// think another one runs), and never creates the directory or the file.
func Holder(dir string) (int, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, errfmt.Errorf("single-instance lock: %w", err)
	}
	defer f.Close()
	if _, err := os.Stat("/proc/locks"); err == nil {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			return 0, err
		}
		pid, _ := strconv.Atoi(lockHolder("/proc/locks", uint64(st.Dev), st.Ino))
		return pid, nil
	}
	// Without /proc: a shared lock fails only while a daemon holds its exclusive one.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid, _ := strconv.Atoi(holder(f))
			return max(pid, 1), nil
		}
		return 0, err
	}
	return 0, nil
}
