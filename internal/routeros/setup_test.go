package routeros

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// TestSetupScript: the setup commands pass the schema check of both releases, the certificate names the
// address hairpin connects to, and a misspelt policy is caught (negative control).
func TestSetupScript(t *testing.T) {
	for _, tt := range []struct{ url, san string }{
		{"https://192.168.88.1", `subject-alt-name="IP:192.168.88.1"`},
		{"https://router.home.arpa:8443", `subject-alt-name="DNS:router.home.arpa"`},
	} {
		cfg := parseConfig(t, "backend: routeros\nrouteros: {url: \""+tt.url+"\", username: hairpin, password_file: /etc/hairpin/routeros.secret}\n"+
			"wan: {interface: ether1}\nlan: {interface: bridge}\nforwards: [{name: cam, port: 8090, to: \"192.168.88.180:80\"}]\n")
		s, err := SetupScript(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{tt.san, "/user group add name=hairpin policy=read,write,api,rest-api ",
			"/ip service set www-ssl certificate=hairpin-www disabled=no", "Replace PASSWORD with the password in /etc/hairpin/routeros.secret"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: the setup lacks %s:\n%s", tt.url, want, s)
			}
		}
		for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
			sc := rostest.MustSchema(v)
			c := checkScript(sc, s)
			for _, p := range c.problems {
				t.Errorf("RouterOS %s: %s", v, p)
			}
			for _, want := range []string{"user/group add", "user add", "certificate add", "certificate sign", "ip/service set"} {
				if !slices.Contains(c.seen, want) {
					t.Errorf("RouterOS %s: the check never saw %q", v, want)
				}
			}
			for _, bad := range []struct{ old, new, want string }{
				{"policy=read,write,api,rest-api", "policy=read,write,api,restapi", "input does not match any value of policy"},
				{tt.san, strings.NewReplacer("IP:", "", "DNS:", "").Replace(tt.san), "input does not match any value of subject-alt-name"},
				{"key-usage=digital-signature,", "key-usage=digital-signatur,", "input does not match any value of key-usage"},
			} {
				p := checkScript(sc, strings.Replace(s, bad.old, bad.new, 1)).problems
				if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, bad.want) }) {
					t.Errorf("RouterOS %s: %s passed: %v", v, bad.new, p)
				}
			}
		}
	}
}

// TestSetupPoliciesAreExactlyEnough: a user with the policies the setup gives can apply, read and take
// everything down; without any one of them the router refuses (403), so none is superfluous.
func TestSetupPoliciesAreExactlyEnough(t *testing.T) {
	f := newFixture(t)
	s, err := SetupScript(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`/user group add name=\S+ policy=(\S+)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no group in:\n%s", s)
	}
	policies := strings.Split(m[1], ",")
	d := f.desired()
	f.r.SetPolicies(policies...)
	f.apply(d)
	if err := f.b.Down(context.Background()); err != nil {
		t.Fatalf("down with the setup's policies: %v", err)
	}
	// On the empty router an apply both reads and writes.
	for i, p := range policies {
		fewer := slices.Delete(slices.Clone(policies), i, i+1)
		f.r.SetPolicies(fewer...)
		if err := f.b.Apply(context.Background(), d); !IsUnauthorized(err) {
			t.Errorf("without %s: %v, want the router's refusal", p, err)
		}
	}
}

// TestReadFingerprint: the fingerprint read from the router is the one its certificate has, in the form the
// config takes.
func TestReadFingerprint(t *testing.T) {
	f := newFixture(t)
	got, err := ReadFingerprint(context.Background(), f.cfg.RouterOS)
	if err != nil || got != f.r.Fingerprint() {
		t.Errorf("ReadFingerprint = %q, %v; want %s", got, err, f.r.Fingerprint())
	}
	f.r.Close()
	if _, err := ReadFingerprint(context.Background(), f.cfg.RouterOS); err == nil || !strings.Contains(err.Error(), "is www-ssl enabled") {
		t.Errorf("a closed router: %v", err)
	}
}
