package ddns

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
)

// TestConfigHashCarriesOver: the config hash of an entry is what it was when every provider shared one entry
// struct, so state written by that version still belongs to the same entry; the JSON below is what that
// version hashed. A key a provider has beyond that layout still changes the hash (negative control).
func TestConfigHashCarriesOver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		entry provider.Entry
		was   string
	}{
		{"dyndns2", provider.Entry{Provider: "dyndns2", Hostname: "home.example.net", Family: "both", Line: 7,
			Settings: &dyndns2.Settings{Username: "u", PasswordFile: "/etc/hairpin/pw", IPv6Param: "myipv6"}},
			`{"Provider":"dyndns2","Hostname":"home.example.net","Server":"","Username":"u","PasswordFile":"/etc/hairpin/pw","PasswordEnv":"","TokenFile":"","TokenEnv":"","Zone":"","TSIGKey":"","TSIGAlgorithm":"hmac-sha256","TSIGSecretFile":"","TSIGSecretEnv":"","TTL":60,"ZoneID":"","Proxied":false,"IPv6Param":"myipv6","Family":"both","PublishAlways":false,"Line":0}`},
		{"rfc2136", provider.Entry{Provider: "rfc2136", Hostname: "home.example.net",
			Settings: &rfc2136.Settings{Server: "192.0.2.53", TSIGKey: "k", TSIGSecretEnv: "S", TTL: 300, TSIGAlgorithm: "hmac-sha512"}},
			`{"Provider":"rfc2136","Hostname":"home.example.net","Server":"192.0.2.53","Username":"","PasswordFile":"","PasswordEnv":"","TokenFile":"","TokenEnv":"","Zone":"","TSIGKey":"k","TSIGAlgorithm":"hmac-sha512","TSIGSecretFile":"","TSIGSecretEnv":"S","TTL":300,"ZoneID":"","Proxied":false,"PublishAlways":false,"Line":0}`},
		{"cloudflare", provider.Entry{Provider: "cloudflare", Hostname: "home.example.net", PublishAlways: true,
			Settings: &cloudflare.Settings{ZoneID: "z", TokenEnv: "T", Proxied: true, TTL: 60}},
			`{"Provider":"cloudflare","Hostname":"home.example.net","Server":"","Username":"","PasswordFile":"","PasswordEnv":"","TokenFile":"","TokenEnv":"T","Zone":"","TSIGKey":"","TSIGAlgorithm":"hmac-sha256","TSIGSecretFile":"","TSIGSecretEnv":"","TTL":60,"ZoneID":"z","Proxied":true,"PublishAlways":true,"Line":0}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(hashedConfig(c.entry)); got != c.was {
				t.Errorf("hashed\n%s\nwas\n%s", got, c.was)
			}
		})
	}
	type newer struct {
		Server   string
		Endpoint string
	}
	a := provider.Entry{Provider: "x", Hostname: "h.example.net", Settings: &newer{Endpoint: "https://a.example"}}
	b := provider.Entry{Provider: "x", Hostname: "h.example.net", Settings: &newer{Endpoint: "https://b.example"}}
	if configHash(a, nil) == configHash(b, nil) {
		t.Error("a key outside the old layout does not change the hash")
	}
}

// TestOldBADTIMEHoldLifted: a hold for TSIG BADTIME saved by an earlier version is lifted at start (it was the
// router's clock); a hold for BADKEY stays (the negative control).
func TestOldBADTIMEHoldLifted(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "tsig")
	if err := os.WriteFile(secretFile, []byte("VLuNnpuJHmXqWAgrae9WBLyzLyvhvuQ5RpPRvuQcNxA=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entry := provider.Entry{Provider: "rfc2136", Hostname: "home.example.net", Settings: &rfc2136.Settings{Server: "192.0.2.53", Zone: "example.net",
		TSIGKey: "hairpin-key", TSIGAlgorithm: "hmac-sha256", TSIGSecretFile: secretFile, TTL: 60}}
	for answer, held := range map[string]bool{"NOTAUTH (TSIG BADTIME)": false, "NOTAUTH (TSIG BADKEY)": true} {
		e, err := New([]provider.Entry{entry}, dir, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		h := e.hosts[0]
		st := h.st
		st.Held, st.Auth, st.HeldSince, st.Answer, st.Reason = true, true, time.Now(), answer, "check tsig_key"
		e.save(h.file, st)
		e2, err := New([]provider.Entry{entry}, dir, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := e2.Status()[0].Held; got != held {
			t.Errorf("%s: held after a restart = %v, want %v", answer, got, held)
		}
	}
}

func TestHistoryKeepsMovesOnly(t *testing.T) {
	a, b := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	h := moved(nil, netip.Addr{}, a, t0)
	h = moved(h, a, a, t0.Add(time.Minute)) // the same address again: no move
	h = moved(h, a, b, t0.Add(2*time.Minute))
	if len(h) != 2 || h[0].Address != a || h[1].Address != b || !h[1].Time.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("history %v", h)
	}
	for i := range 2 * MaxHistory {
		h = moved(h, h[len(h)-1].Address, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), t0)
	}
	if len(h) != MaxHistory || h[len(h)-1].Address.String() != "198.51.100.15" {
		t.Errorf("history of %d, last %v", len(h), h[len(h)-1])
	}
}
