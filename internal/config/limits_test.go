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

// TestAllowTotalsPerConfig: the bounds on allow lists hold for the config as a whole. A prefix file named by
// many forwards is read once (it was read, parsed and copied once per forward: 30 forwards took 32 s and
// 5.2 GB); the prefixes of all sets together and the hostnames (checked by a scan of the list so far: 130,000
// took 20 s, and were accepted) are bounded, each with one clear error.
func TestAllowTotalsPerConfig(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "office.txt")
	if err := os.WriteFile(small, hostile.PrefixFile(100), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, hostile.PrefixFile(config.MaxAllowPrefixes/3+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string // in the errors; none wanted when empty
	}{
		{"a small file named by 30 forwards", hostile.FileForwards(30, small, false), ""},
		{"a third of the bound named by 3 forwards", hostile.FileForwards(3, big, false),
			"allow lists hold more than 2000000 prefixes together (a set of allow_sets is installed once"},
		{"the same file in one allow_sets entry named by 30 forwards", hostile.FileForwards(30, big, true), ""},
		{"1000 hostnames", hostile.AllowHosts(config.MaxAllowHosts), "forward \"cam\" allows 1000 hostnames, more than 256"},
		{"1001 hostnames", hostile.AllowHosts(config.MaxAllowHosts + 1), "the allow lists name more than 1000 hostnames"},
		// make bench checks 130,000; here a few times the bound is enough to show the one error.
		{"5000 hostnames", hostile.AllowHosts(5000), "the allow lists name more than 1000 hostnames"},
		{"256 hostnames", hostile.AllowHosts(config.MaxAllowHostsPerForward), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("hairpin.yaml", tc.data)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range cfg.AllowSets {
					if len(s.Prefixes) == 0 && len(s.Hosts) == 0 {
						t.Errorf("set %s is empty", s.ID)
					}
				}
				return
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want config.Errors", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("errors do not mention %q:\n%.2000s", tc.want, err)
			}
			if errs.Count() != 1 {
				t.Errorf("%d problems, want the bound once:\n%.2000s", errs.Count(), err)
			}
		})
	}
}
