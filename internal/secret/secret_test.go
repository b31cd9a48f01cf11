package secret

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

func write(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRead: every kind of file that once hung the daemon, filled its memory or sent the wrong thing as a
// password is refused with the file named and without the value; a plain one-line file is read.
func TestRead(t *testing.T) {
	netnstest.NeedRoot(t, "chowns a file to another user")
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.Mkdir(conf, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(conf, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := write(t, filepath.Join(conf, "huge"), "")
	// 1 GB, sparse: the size is refused from fstat, before any read.
	if err := os.Truncate(huge, 1<<30); err != nil {
		t.Fatal(err)
	}
	shadow := filepath.Join(conf, "shadow-link")
	outside := write(t, filepath.Join(dir, "outside"), "s3cret-outside\n")
	if err := os.Symlink(outside, shadow); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(conf, "inside-link")
	if err := os.Symlink("plain", inside); err != nil {
		t.Fatal(err)
	}
	foreign := write(t, filepath.Join(conf, "foreign"), "s3cret-foreign\n")
	if err := os.Chown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(conf, "plain"), "s3cret-plain\n")
	for _, tc := range []struct {
		name, path, want, err string
		lines                 bool
	}{
		{"plain file, final newline dropped", filepath.Join(conf, "plain"), "s3cret-plain", "", false},
		{"CRLF line", write(t, filepath.Join(conf, "crlf"), "s3cret-crlf\r\n"), "s3cret-crlf", "", false},
		{"link inside the config's directory", inside, "s3cret-plain", "", false},
		{"FIFO", fifo, "", "is a FIFO, not a regular file", false},
		{"directory", conf, "", "is a directory", false},
		{"1 GB file", huge, "", "is 1073741824 bytes, more than the limit of 4096", false},
		{"link to a file outside", shadow, "", "is a symbolic link to " + outside + ", outside " + conf, false},
		{"another user's file", foreign, "", "is owned by uid 65534", false},
		{"two lines", write(t, filepath.Join(conf, "two"), "s3cret-one\ns3cret-two\n"), "", "has more than one line", false},
		{"two lines where allowed", filepath.Join(conf, "two"), "s3cret-one\ns3cret-two", "", true},
		{"empty", write(t, filepath.Join(conf, "empty"), "\n"), "", "is empty", false},
		{"missing", filepath.Join(conf, "missing"), "", "no such file", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(tc.path, Options{ConfigDir: conf, Lines: tc.lines})
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Read = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Read = %q, %v; want an error containing %q", got, err, tc.err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestReadDevice: a device named directly (no link) is refused by fstat, not read forever.
func TestReadDevice(t *testing.T) {
	_, err := Read("/dev/zero", Options{ConfigDir: "/dev"})
	if err == nil || !strings.Contains(err.Error(), "is a character device, not a regular file") {
		t.Fatalf("got %v", err)
	}
	if _, err := ReadFile("/dev/zero", 1<<20); err == nil || !strings.Contains(err.Error(), "is a character device") {
		t.Fatalf("ReadFile: got %v", err)
	}
}

// TestWarnsOnLooseMode: a secret others can read is used, with a warning that names the file and mode.
func TestWarnsOnLooseMode(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), "pw"), "s3cret\n")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var warned []any
	got, err := Read(path, Options{Warn: func(msg string, args ...any) { warned = append([]any{msg}, args...) }})
	if err != nil || got != "s3cret" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if len(warned) == 0 || warned[len(warned)-1] != "0644" {
		t.Errorf("warning %v, want the mode 0644", warned)
	}
}

// TestReadTrustedOwner: a file owned by a user listed in secret_owners is read.
func TestReadTrustedOwner(t *testing.T) {
	netnstest.NeedRoot(t, "chowns a file to another user")
	path := write(t, filepath.Join(t.TempDir(), "pw"), "s3cret\n")
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path, Options{}); err == nil {
		t.Fatal("a file of uid 65534 was read without secret_owners")
	}
	if got, err := Read(path, Options{Owners: []int{65534}}); err != nil || got != "s3cret" {
		t.Fatalf("Read with Owners = %q, %v", got, err)
	}
}
