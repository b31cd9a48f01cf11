package routeros

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	_ "github.com/hairpin-nat/hairpin/internal/ddns/providers" // the ddns entries of testdata/pppoe.yaml
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestScriptGolden(t *testing.T) {
	for _, name := range []string{"cameras", "pppoe", "double-nat", "allowlist", "ipv6"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join("testdata", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got := exportScript(t, cfg)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("script differs from %s (run go test -update and review the diff):\n%s", golden, got)
			}
			for _, line := range strings.Split(got, "\n") {
				line = strings.TrimSpace(line)
				if !strings.HasPrefix(line, "#") && strings.Contains(line, ":global") {
					t.Errorf("the script uses a global variable: %s", line)
				}
			}
			if strings.Count(got, "{") != strings.Count(got, "}") {
				t.Error("unbalanced braces")
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"ether1": "ether1", "192.168.88.0/24": "192.168.88.0/24", "": `""`, "my wan": `"my wan"`,
		`a"b`: `"a\"b"`, "$x": `"\$x"`, `a\b`: `"a\\b"`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// testDNSPassword is the dyndns2 password of testdata/pppoe.yaml, from the environment as the config says.
const testDNSPassword = "s3cret-Pa55word!"

// exportScript is what hairpin export routeros prints for cfg: the script with the ddns entries the router
// updates itself.
func exportScript(t *testing.T, cfg *config.Config) string {
	t.Helper()
	t.Setenv("HAIRPIN_TEST_DYNDNS_PASSWORD", testDNSPassword)
	dns, err := DNSUpdates(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Script(cfg, dns...)
}
