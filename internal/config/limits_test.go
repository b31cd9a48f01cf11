package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/config/hostile"
)

// TestHostileFiles: the files that took minutes and gigabytes, at their reported sizes, give a short list of
// errors that counts the rest. Before the limits, the first two alone took 94 s and 6.8 GB.
func TestHostileFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte
		count int    // problems, listed or counted
		want  string // in the first listed problem
	}{
		{"2000 forwards on one port (109 KB)", hostile.SamePort(2000), 1999, `tcp port 8090 overlaps another forward ("f0" on line 7`},
		{"3000 aliases of one forward (9 KB)", hostile.Aliases(3000), 6000, `duplicate name "cam"`},
		{"aliases that expand to 10^9 values", hostile.Laughs(9), 11, "YAML aliases expand to more than 100000 values"},
		{"1 MB of unknown keys", hostile.UnknownKeys(1 << 20), 0, "unknown key"},
		{"a 1 MB string", hostile.LongString(1 << 20), 1, `"AAAAAAAA`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("hairpin.yaml", tc.data)
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want config.Errors", err)
			}
			if len(errs) > config.MaxIssues+1 {
				t.Errorf("%d issues listed, want at most %d and a count of the rest", len(errs), config.MaxIssues)
			}
			if tc.count > 0 && errs.Count() != tc.count {
				t.Errorf("Count() = %d, want %d", errs.Count(), tc.count)
			}
			if errs.Count() > config.MaxIssues && !strings.Contains(errs[len(errs)-1].String(), "more (fix the ones above first)") {
				t.Errorf("last issue %q does not count the rest", errs[len(errs)-1])
			}
			if !strings.Contains(errs.Error(), tc.want) {
				t.Errorf("errors do not mention %q:\n%.2000s", tc.want, errs.Error())
			}
			// 101 lines of at most a few hundred characters: nothing echoes a huge value.
			if n := len(errs.Error()); n > 40_000 {
				t.Errorf("error text is %d bytes", n)
			}
			for _, is := range errs {
				if len(is.String()) > 600 {
					t.Errorf("issue of %d bytes: %.200s...", len(is.String()), is.String())
				}
			}
		})
	}
}

// TestFileSizeLimit: a file over the limit is refused before it is parsed, with the limit named.
func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"34 MB of unknown keys", hostile.UnknownKeys(34 << 20)},
		{"a 100 MB string", hostile.LongString(100 << 20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "hairpin.yaml")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(path)
			if err == nil || !strings.Contains(err.Error(), "more than the limit of 4194304") {
				t.Errorf("Load: %v, want the size limit named", err)
			}
			_, err = config.Parse("hairpin.yaml", tc.data)
			if err == nil || !strings.Contains(err.Error(), "more than the limit of 4194304 (4 MiB)") || len(err.Error()) > 300 {
				t.Errorf("Parse: %.300v, want the size limit named", err)
			}
		})
	}
}

// TestLoadRefusesSpecialFiles: a FIFO as the config is an error at once instead of a hang (hairpin check
// blocked forever on one), and so are a directory and a device.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{fifo: "is a FIFO, not a regular file", dir: "is a directory", "/dev/zero": "is a character device"} {
		_, err := config.Load(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) = %v, want %q", path, err, want)
		}
	}
}

// TestNormalFileStillLoads: the limits leave room for a config of 50,000 forwards.
func TestNormalFileStillLoads(t *testing.T) {
	data := hostile.Forwards(50_000)
	if len(data) > config.MaxFileSize {
		t.Fatalf("50,000 forwards take %d bytes, over the limit", len(data))
	}
	cfg, err := config.Parse("hairpin.yaml", data)
	if err != nil {
		t.Fatalf("%.500v", err)
	}
	if len(cfg.Forwards) != 50_000 {
		t.Errorf("%d forwards", len(cfg.Forwards))
	}
}
