// Package secret is the one place hairpin reads files it did not write: config files and secret files
// (passwords, API tokens). Paths come from a config an operator may have got wrong, or that someone else could
// edit, so each read is bounded: regular files only (a FIFO or a device would block forever or never end),
// a size limit, and for secrets one line, an owner hairpin trusts, and no symbolic link leading out of the
// config's directory (a link to /etc/shadow must not become a password sent to a server).
package secret

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// MaxSize bounds a secret file: passwords and API tokens are far shorter.
const MaxSize = 4096

// ReadFile reads the regular file at path, refusing anything larger than limit bytes. The file is opened
// without blocking and checked with fstat before any read, so a FIFO, a device or a directory is an error at
// once instead of a hang.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, fi, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, fi, path, limit)
}

func open(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errfmt.Errorf("%s is %s, not a regular file", path, kind(fi.Mode()))
	}
	return f, fi, nil
}

func read(f *os.File, fi fs.FileInfo, path string, limit int64) ([]byte, error) {
	if fi.Size() > limit {
		return nil, errfmt.Errorf("%s is %d bytes, more than the limit of %d", path, fi.Size(), limit)
	}
	// The file may grow between fstat and read; read one byte past the limit to notice. The buffer is sized by
	// fstat: io.ReadAll's doubling copied a 1.5 MB prefix list about a dozen times.
	var b bytes.Buffer
	b.Grow(int(fi.Size()) + bytes.MinRead)
	if _, err := b.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	data := b.Bytes()
	if int64(len(data)) > limit {
		return nil, errfmt.Errorf("%s is more than the limit of %d bytes", path, limit)
	}
	return data, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "a special file"
	}
}

// Options says where a secret's config lives and where to report a file that others can read.
type Options struct {
	// ConfigDir is the directory of the config that names the secret; a symbolic link must stay inside it.
	// When empty, the link's own directory is used.
	ConfigDir string
	// Owners are uids besides root and this process's that may own the file.
	Owners []int
	// Lines allows a secret of several lines: a TSIG key file holds the key clause as tsig-keygen prints it.
	Lines bool
	// Warn, when set, hears about a secret file that group or others can read (still used).
	Warn func(msg string, args ...any)
}

// Read reads a one-line secret from path: a regular file of at most MaxSize bytes, owned by hairpin's user,
// root or one of o.Owners, holding one line (a final newline is dropped). A symbolic link is followed only when it stays inside
// the config's directory. Errors name the file, never the value.
func Read(path string, o Options) (string, error) {
	if err := checkLink(path, o.ConfigDir); err != nil {
		return "", err
	}
	f, fi, err := open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != 0 && uid != os.Geteuid() && !slices.Contains(o.Owners, uid) {
			return "", errfmt.Errorf("%s is owned by uid %d, not by root or hairpin's user (uid %d); another user could change the secret: chown it, or list the owner in secret_owners", path, uid, os.Geteuid())
		}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && o.Warn != nil {
		o.Warn("secret file is readable by group or others; chmod 600 it", "file", path, "mode", fmt.Sprintf("%04o", perm))
	}
	data, err := read(f, fi, path, MaxSize)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if !o.Lines && strings.ContainsAny(s, "\r\n") {
		return "", errfmt.Errorf("%s has more than one line; put only the secret in it, on one line", path)
	}
	if strings.TrimSpace(s) == "" {
		return "", errfmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// checkLink refuses a path whose symbolic links lead outside dir.
func checkLink(path, dir string) error {
	lfi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return missing(path)
	}
	if err != nil {
		return err
	}
	if lfi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	if dir == "" {
		dir = filepath.Dir(path)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realDir, target); err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return errfmt.Errorf("%s is a symbolic link to %s, outside %s; refusing it (point the config at the file itself)", path, target, dir)
	}
	return nil
}

// missing is a file that is not there, said as the file to create rather than the system call that found it
// out ("lstat ..."); it is still fs.ErrNotExist to errors.Is.
type missing string

func (m missing) Error() string        { return string(m) + ": no such file" }
func (m missing) Is(target error) bool { return target == fs.ErrNotExist }
