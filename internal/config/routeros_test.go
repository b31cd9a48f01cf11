package config

import (
	"regexp"
	"strings"
	"testing"
)

const rosTestFP = "sha256:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"

func routerosYAML(section string) string {
	return "backend: routeros\nrouteros:\n" + section + "wan: {interface: ether1}\nlan: {interface: bridge}\nforwards: [{name: a, port: 8090, to: 192.168.88.2}]\n"
}

func TestRouterOSValidation(t *testing.T) {
	tests := []struct {
		name    string
		section string
		errs    []string // substrings, one per expected error, in order
		warns   []string
	}{
		{"pinned https", "  url: https://192.168.88.1\n  username: hairpin\n  password_file: /etc/hairpin/routeros.secret\n  tls_fingerprint: " + rosTestFP + "\n", nil, nil},
		{"bare hex pin, ca file, env", "  url: https://192.168.88.1:8443/rest\n  username: hairpin\n  password_env: ROS_PW\n  tls_fingerprint: sha256:" + strings.Repeat("ab", 32) + "\n", nil, nil},
		{"system roots", "  url: https://router.example.net\n  username: hairpin\n  password_env: ROS_PW\n", nil, nil},
		{"http warns", "  url: http://192.168.88.1\n  username: hairpin\n  password_file: /etc/s\n", nil,
			[]string{"routeros.url: over http the RouterOS password crosses the network in clear text"}},
		{"http with pin", "  url: http://192.168.88.1\n  username: hairpin\n  password_file: /etc/s\n  tls_fingerprint: " + rosTestFP + "\n",
			[]string{"routeros: tls_fingerprint and ca_file have no effect over http"}, []string{"clear text"}},
		{"missing everything", "  poll_interval: 5s\n", []string{
			"routeros.url: required key is missing", "routeros.username: required key is missing", "routeros.password_file: required key is missing"}, nil},
		{"empty section", "", []string{"routeros: the routeros section is empty"}, nil},
		{"public address off", "  url: https://r\n  username: u\n  password_env: P\n  public_address: off\n", nil, nil},
		{"public address ip-cloud", "  url: https://r\n  username: u\n  password_env: P\n  public_address: ip-cloud\n", nil, nil},
		{"public address unknown", "  url: https://r\n  username: u\n  password_env: P\n  public_address: stun\n", []string{"routeros.public_address"}, nil},
		{"public address twice", "  url: https://r\n  username: u\n  password_env: P\n  ip_cloud: true\n  public_address: off\n",
			[]string{"routeros.ip_cloud: ip_cloud and public_address say the same thing twice"}, nil},
		{"ftp", "  url: ftp://192.168.88.1\n  username: u\n  password_env: P\n", []string{`scheme "ftp" is not supported`}, nil},
		{"credentials in url", "  url: https://admin:pw@192.168.88.1\n  username: u\n  password_env: P\n", []string{"the url must not carry credentials"}, nil},
		{"path in url", "  url: https://192.168.88.1/webfig\n  username: u\n  password_env: P\n", []string{"has a path, query or fragment"}, nil},
		{"not a url", "  url: 192.168.88.1\n  username: u\n  password_env: P\n", []string{"is not a URL"}, nil},
		{"both passwords", "  url: https://r\n  username: u\n  password_env: P\n  password_file: /s\n", []string{"both password_file and password_env are set"}, nil},
		{"relative password file", "  url: https://r\n  username: u\n  password_file: secret\n", []string{`"secret" is not an absolute path`}, nil},
		{"bad env name", "  url: https://r\n  username: u\n  password_env: 1-X\n", []string{"not a valid environment variable name"}, nil},
		{"empty username", "  url: https://r\n  username: \"\"\n  password_env: P\n", []string{"the username is empty"}, nil},
		{"short pin", "  url: https://r\n  username: u\n  password_env: P\n  tls_fingerprint: sha256:AB:CD\n", []string{"has 2 bytes; a SHA-256 fingerprint has 32"}, nil},
		{"md5 pin", "  url: https://r\n  username: u\n  password_env: P\n  tls_fingerprint: md5:AB\n", []string{`does not start with "sha256:"`}, nil},
		{"ragged pin", "  url: https://r\n  username: u\n  password_env: P\n  tls_fingerprint: sha256:ABC:D\n", []string{"separate every byte"}, nil},
		{"pin and ca", "  url: https://r\n  username: u\n  password_env: P\n  tls_fingerprint: " + rosTestFP + "\n  ca_file: /etc/ca.pem\n", []string{"both tls_fingerprint and ca_file are set"}, nil},
		{"timeout", "  url: https://r\n  username: u\n  password_env: P\n  timeout: 20s\n", nil, nil},
		{"timeout too long", "  url: https://r\n  username: u\n  password_env: P\n  timeout: 2m\n", []string{"routeros.timeout: 2m0s is longer than the router waits"}, nil},
		{"timeout too short", "  url: https://r\n  username: u\n  password_env: P\n  timeout: 10ms\n", []string{"not a valid duration"}, nil},
		{"unknown key", "  url: https://r\n  username: u\n  password_env: P\n  pasword_file: /s\n", []string{`did you mean "password_file"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("hairpin.yaml", []byte(routerosYAML(tt.section)))
			var errs Errors
			if err != nil {
				errs = err.(Errors)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.errs), err)
			}
			for i, want := range tt.errs {
				if !strings.Contains(errs[i].String(), want) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], want)
				}
				if !strings.HasPrefix(errs[i].String(), "hairpin.yaml:") {
					t.Errorf("error %q has no position", errs[i])
				}
			}
			if cfg == nil {
				return
			}
			if len(cfg.Warnings) != len(tt.warns) {
				t.Fatalf("warnings %v, want %v", cfg.Warnings, tt.warns)
			}
			for i, want := range tt.warns {
				if !strings.Contains(cfg.Warnings[i].String(), want) {
					t.Errorf("warning %q lacks %q", cfg.Warnings[i], want)
				}
			}
			if !cfg.RouterOS.IPCloud && tt.name != "public address off" || cfg.RouterOS.PollInterval.Seconds() != 10 {
				t.Errorf("defaults: %+v", cfg.RouterOS)
			}
			if want := DefaultRouterOSTimeout; tt.name == "timeout" {
				if cfg.RouterOS.Timeout.Seconds() != 20 {
					t.Errorf("timeout: %v", cfg.RouterOS.Timeout)
				}
			} else if len(tt.errs) == 0 && cfg.RouterOS.Timeout != want {
				t.Errorf("default timeout %v, want %v", cfg.RouterOS.Timeout, want)
			}
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	b, err := ParseFingerprint(rosTestFP)
	if err != nil || len(b) != 32 || b[1] != 0x11 {
		t.Fatalf("ParseFingerprint = %x, %v", b, err)
	}
	if got := FormatFingerprint(b); got != rosTestFP {
		t.Errorf("FormatFingerprint = %s", got)
	}
	if _, err := ParseFingerprint("SHA256:" + strings.ToLower(strings.ReplaceAll(rosTestFP[7:], ":", ""))); err != nil {
		t.Errorf("bare lower-case hex: %v", err)
	}
}

// TestInterfaceNamesPerBackend: RouterOS names may hold spaces and punctuation, Linux names may not.
func TestInterfaceNamesPerBackend(t *testing.T) {
	for _, tt := range []struct {
		backend, name string
		ok            bool
	}{
		{"routeros", "ether1 - uplink", true},
		{"routeros", "WAN (fibre) #1: $ISP?", true},
		{"routeros", "bridge/vlan10", true},
		{"routeros", "caf\u00e9 lan", true},
		{"routeros", `tab\there`, false}, // YAML escapes: the value holds the control character
		{"routeros", `esc\u001b`, false},
		{"routeros", strings.Repeat("x", 256), false},
		{"linux", "ether1 - uplink", false},
		{"linux", "eth0.10", true},
		{"linux", "vlan:1", false},
		{"linux", "..", false},
		{"linux", strings.Repeat("x", 16), false},
	} {
		y := "backend: " + tt.backend + "\n"
		if tt.backend == "routeros" {
			y += "routeros: {url: https://r, username: u, password_env: P}\n"
		}
		y += "wan: {interface: \"" + tt.name + "\"}\nlan: {interface: bridge}\nforwards: [{name: a, port: 8090, to: 192.168.88.2}]\n"
		_, err := Parse("hairpin.yaml", []byte(y))
		if (err == nil) != tt.ok {
			t.Errorf("%s %q: %v", tt.backend, tt.name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "wan.interface") {
			t.Errorf("%s %q: error does not name the key: %v", tt.backend, tt.name, err)
		}
	}
}

func TestRouterOSPublicAddress(t *testing.T) {
	base := "  url: https://r\n  username: u\n  password_env: P\n"
	for _, tt := range []struct {
		extra    string
		cloud    bool
		explicit bool
	}{{"", true, false}, {"  public_address: ip-cloud\n", true, true}, {"  public_address: off\n", false, true}, {"  ip_cloud: false\n", false, false}} {
		cfg, err := Parse("t.yaml", []byte(routerosYAML(base+tt.extra)))
		if err != nil {
			t.Fatalf("%q: %v", tt.extra, err)
		}
		if cfg.RouterOS.IPCloud != tt.cloud || cfg.RouterOS.PublicAddressSet != tt.explicit {
			t.Errorf("%q: IPCloud %v PublicAddressSet %v, want %v %v", tt.extra, cfg.RouterOS.IPCloud, cfg.RouterOS.PublicAddressSet, tt.cloud, tt.explicit)
		}
	}
}

func TestIsLinuxIfname(t *testing.T) {
	rule := regexp.MustCompile(`^[^\s/:]{1,15}$`)
	for _, s := range []string{"", "eth0", "br-lan", "a/b", "a:b", "a b", "a\tb", "a\nb", "a\fb", "a\rb", "a\vb",
		strings.Repeat("a", 15), strings.Repeat("a", 16), strings.Repeat("é", 15), strings.Repeat("é", 16), "\xff",
		strings.Repeat("\xff", 15), strings.Repeat("\xff", 16), ".", "wan\x00"} {
		if got, want := isLinuxIfname(s), rule.MatchString(s); got != want {
			t.Errorf("isLinuxIfname(%q) = %v, the rule says %v", s, got, want)
		}
	}
}
