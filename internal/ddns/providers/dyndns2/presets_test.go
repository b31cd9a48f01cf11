package dyndns2_test

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// TestPresets: each preset's example entry parses to the provider's documented server, and an update goes to
// that server's path and query with basic auth, as the dyndns2 protocol has it; a preset with IPv6 sends both
// addresses in one request, spelled as its documentation says. The dyndns2 server here answers only at the
// preset's path, so a preset sending elsewhere fails (the control is the server's own 404 for any other path).
func TestPresets(t *testing.T) {
	t.Parallel()
	for _, d := range dyndns2.Presets() {
		t.Run(d.Config.Name, func(t *testing.T) {
			t.Parallel()
			text := "wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - " + strings.ReplaceAll(d.Example, "\n", "\n    ") + "\n"
			if d.Config.AAAA {
				text += "    family: both\n"
			}
			cfg, err := config.Parse("hairpin.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			ent := cfg.DDNS[0]
			set := ent.Settings.(*dyndns2.Settings)
			documented, err := url.Parse(set.Server)
			if err != nil || documented.Scheme != "https" || documented.Host == "" {
				t.Fatalf("server %q is not an https URL", set.Server)
			}
			if def, ok := providers.Lookup(d.Config.Name); !ok || def.Doc == "" || !strings.HasPrefix(def.Doc, "https://") {
				t.Fatalf("no documentation link for %s", d.Config.Name)
			}

			srv := ddnstest.NewDyndns2Server(t, true, set.Username, "pw-"+d.Config.Name, ent.Hostname)
			srv.Path = documented.Path
			srv.Query = map[string]string{}
			for k, v := range documented.Query() {
				srv.Query[k] = v[0]
			}
			local := *documented
			local.Host = strings.TrimPrefix(srv.URL, "https://")
			set.Server = local.String()
			set.PasswordFile = ddnstest.WriteSecret(t, "pw-"+d.Config.Name)
			e, err := ddns.New([]provider.Entry{ent}, t.TempDir(), ddnstest.UserAgent, nil, ddns.WithHTTPClient(webtest.ClientOf(srv)))
			if err != nil {
				t.Fatal(err)
			}
			v4, v6 := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8::10")
			e.SetAddress(v4)
			if d.Config.AAAA {
				e.SetAddress6(v6)
			}
			if err := e.Update(t.Context()); err != nil {
				t.Fatal(err)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || !reqs[0].AuthOK || reqs[0].Host != ent.Hostname {
				t.Fatalf("requests %+v", reqs)
			}
			a, aaaa := srv.Record(ent.Hostname)
			want6 := ""
			if d.Config.AAAA {
				want6 = v6.String()
			}
			if a != v4.String() || aaaa != want6 {
				t.Errorf("records A %q AAAA %q, want %s and %q", a, aaaa, v4, want6)
			}
		})
	}
}

// The control of TestPresets: the same server answering at another path than the preset's refuses the update,
// so the preset tests do check the path.
func TestPresetPathChecked(t *testing.T) {
	t.Parallel()
	srv := ddnstest.NewDyndns2Server(t, true, "me", "pw", "home.example.net")
	srv.Path = "/elsewhere"
	ent := provider.Entry{Provider: "noip", Hostname: "home.example.net",
		Settings: &dyndns2.Settings{Server: srv.URL + "/nic/update", Username: "me", PasswordFile: ddnstest.WriteSecret(t, "pw")}}
	e, err := ddns.New([]provider.Entry{ent}, t.TempDir(), ddnstest.UserAgent, nil, ddns.WithHTTPClient(webtest.ClientOf(srv)))
	if err != nil {
		t.Fatal(err)
	}
	e.SetAddress(netip.MustParseAddr("203.0.113.10"))
	if err := e.Update(t.Context()); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("update at the wrong path: %v, want the server's 404", err)
	}
}
