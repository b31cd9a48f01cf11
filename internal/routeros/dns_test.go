package routeros

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// fetchCall is the request the DNS script's /tool fetch sends for one entry, as the small evaluator below
// reads it out of the script: the URL its string expression builds, and the fetch's own arguments.
type fetchCall struct {
	url, user, password, userAgent string
	checkCert                      bool
}

// evalFetch evaluates the DNS script's fetch for the `$update` call of entry n with the public address pub:
// it takes the call's arguments, evaluates the `:local url (...)` concatenation with them, and reads the
// fetch's parameters. It knows only what the script uses: quoted strings, $variables and `.`.
func evalFetch(t *testing.T, script string, n int, pub string) fetchCall {
	t.Helper()
	vars := map[string]string{"hpAddr": pub}
	var urlExpr, fetch string
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, fmt.Sprintf("$update hpN=%d ", n)):
			for _, tok := range tokenize(line)[1:] {
				k, v, _ := strings.Cut(tok, "=")
				if !strings.HasPrefix(v, "$") {
					vars[k] = unquote(v)
				}
			}
		case strings.HasPrefix(line, ":local url ("):
			urlExpr = strings.TrimSuffix(strings.TrimPrefix(line, ":local url ("), ")")
		case strings.Contains(line, "/tool fetch "):
			fetch = line[strings.Index(line, "/tool fetch "):]
		}
	}
	if vars["hpHost"] == "" || urlExpr == "" || fetch == "" {
		t.Fatalf("the script has no update call for entry %d, url expression or fetch", n)
	}
	value := func(tok string) string {
		if v, ok := strings.CutPrefix(tok, "$"); ok {
			got, known := vars[v]
			if !known {
				t.Fatalf("the script uses $%s, which nothing sets", v)
			}
			return got
		}
		return unquote(tok)
	}
	var b strings.Builder
	for _, tok := range tokenize(urlExpr) {
		if tok != "." {
			b.WriteString(value(tok))
		}
	}
	vars["url"] = b.String()
	var c fetchCall
	for _, tok := range tokenize(fetch)[2:] {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || v == "" {
			continue
		}
		switch k {
		case "url":
			c.url = value(v)
		case "user":
			c.user = value(v)
		case "password":
			c.password = value(v)
		case "check-certificate":
			c.checkCert = v == "yes"
		case "http-header-field":
			c.userAgent, _ = strings.CutPrefix(value(v), "User-Agent: ")
		}
	}
	return c
}

// send makes the fetch against the test server, refusing what the router would not do: plain http, or https
// without checking the certificate.
func (c fetchCall) send(t *testing.T, srv *ddnstest.Dyndns2Server) (string, error) {
	t.Helper()
	u, err := url.Parse(c.url)
	if err != nil {
		return "", err
	}
	if u.Scheme != "https" || !c.checkCert {
		return "", fmt.Errorf("fetch of %s with check-certificate %v: not https with the certificate checked", c.url, c.checkCert)
	}
	req, err := http.NewRequest(http.MethodGet, c.url, nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := srv.Client().Do(req) // trusts the server's certificate only: check-certificate=yes
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(body)), err
}

// dnsScript exports a config whose dyndns2 entry points at srv, with the test password, and checks it
// against the schema of both releases.
func dnsScript(t *testing.T, srv *ddnstest.Dyndns2Server, server string) string {
	t.Helper()
	t.Setenv("HAIRPIN_TEST_DYNDNS_PASSWORD", ddnstest.Dyndns2Pass)
	cfg := parseConfig(t, "backend: routeros\nrouteros: {url: https://192.168.88.1, username: u, password_env: P}\n"+
		"wan: {interface: ether1, double_nat: off}\nlan: {interface: bridge}\nforwards: [{name: cam, port: 8090, to: \"192.168.88.180:80\"}]\n"+
		"ddns:\n  - {provider: dyndns2, hostname: "+ddnstest.Dyndns2Host+", server: \""+server+"\", username: "+ddnstest.Dyndns2User+", password_env: HAIRPIN_TEST_DYNDNS_PASSWORD}\n")
	dns, err := DNSUpdates(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Script(cfg, dns...)
}

// TestDNSScriptFetch: the router's DNS update, as the script builds it, is one the dyndns2 test server
// accepts: https with the certificate checked, the hostname, myip the public address, the account's basic
// auth and a User-Agent naming the client. Negative controls: the script without the hostname, with
// check-certificate=no, with another password, and a config whose server is plain http, which gets no
// script at all.
func TestDNSScriptFetch(t *testing.T) {
	srv := ddnstest.NewDyndns2Server(t, true, ddnstest.Dyndns2User, ddnstest.Dyndns2Pass, ddnstest.Dyndns2Host)
	script := dnsScript(t, srv, srv.URL)
	for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
		c := checkScript(rostest.MustSchema(v), script)
		for _, p := range c.problems {
			t.Errorf("RouterOS %s: %s", v, p)
		}
		for _, want := range []string{"tool fetch", "ip/firewall/address-list add", "ip/cloud get"} {
			if !slices.Contains(c.seen, want) {
				t.Errorf("RouterOS %s: the check never saw %q", v, want)
			}
		}
	}
	call := evalFetch(t, script, 0, "203.0.113.7")
	if !strings.HasPrefix(call.url, srv.URL+"/nic/update?") {
		t.Errorf("fetch url %s", call.url)
	}
	body, err := call.send(t, srv)
	if err != nil || body != "good 203.0.113.7" {
		t.Fatalf("the server answered %q, %v", body, err)
	}
	r := srv.Requests()[0]
	if a, _ := srv.Record(ddnstest.Dyndns2Host); a != "203.0.113.7" || !r.AuthOK || r.UA != "hairpin-routeros/1" {
		t.Errorf("the server holds %q for %s after %+v", a, ddnstest.Dyndns2Host, r)
	}

	for _, tt := range []struct{ name, old, new, want string }{
		{"no hostname", `"hostname=" . $hpHost . "&myip="`, `"myip="`, "notfqdn"},
		{"certificate not checked", "check-certificate=yes", "check-certificate=no", "not https with the certificate checked"},
		{"another password", `hpPass="` + ddnstest.Dyndns2Pass + `"`, `hpPass="wrong"`, "badauth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(script, tt.old, tt.new, 1)
			if bad == script {
				t.Fatalf("the script has no %q", tt.old)
			}
			body, err := evalFetch(t, bad, 0, "203.0.113.8").send(t, srv)
			if got := body + fmt.Sprint(err); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if a, _ := srv.Record(ddnstest.Dyndns2Host); a != "203.0.113.7" {
		t.Errorf("a broken request changed the record to %q", a)
	}

	plain := dnsScript(t, srv, strings.Replace(srv.URL, "https://", "http://", 1))
	if strings.Contains(plain, "/tool fetch") || !strings.Contains(plain, "is not updated by the router: its server is not an https:// URL") {
		t.Errorf("a plain http server got a fetch, or no reason:\n%s", plain)
	}
}

// TestDNSScriptEtiquette: the script answers each class of dyndns2 return code as the engine does, and runs
// after every WAN event.
func TestDNSScriptEtiquette(t *testing.T) {
	srv := ddnstest.NewDyndns2Server(t, true, ddnstest.Dyndns2User, ddnstest.Dyndns2Pass, ddnstest.Dyndns2Host)
	script := dnsScript(t, srv, srv.URL)
	for _, want := range []string{
		// Nothing is sent while the address is the one last published.
		`:if ([:len [/ip firewall address-list find where list=$lst && address=$hpAddr]] > 0) do={ :return "unchanged" }`,
		// Stopped and waiting entries stop the request before it is sent.
		`:if ([:len [/ip firewall address-list find where list=$stop]] > 0) do={ :return "stopped" }`,
		`:if ([:len [/ip firewall address-list find where list=$pause]] > 0) do={ :return "waiting" }`,
		`:if ($code = "good" || $code = "nochg") do={`,
		`:if ($code = "911" || $code = "dnserr") do={`,
		"/ip firewall address-list add list=$pause address=$hpAddr timeout=30m",
		// Any other answer (badauth, nohost, abuse, ...) stops until the user clears it.
		"/ip firewall address-list add list=$stop address=$hpAddr comment=",
		`:if ([:len [/system script find where name="hairpin-ddns" && comment="HAIRPIN:v1:ddns"]] > 0) do={ /system script run hairpin-ddns }`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %s", want)
		}
	}
	stop := strings.Index(script, `/ip firewall address-list add list=$stop`)
	wait := strings.Index(script, `:if ($code = "911"`)
	good := strings.Index(script, `:if ($code = "good"`)
	if !(good < wait && wait < stop) {
		t.Error("the stop must be the fallthrough after good/nochg and 911/dnserr")
	}
}

// TestDNSPresets: the dyndns2 presets are updated by the router too, at their own endpoints (OVH's with its
// query kept); a provider of another protocol is left to the daemon.
func TestDNSPresets(t *testing.T) {
	t.Setenv("HAIRPIN_TEST_DYNDNS_PASSWORD", "pw")
	t.Setenv("HAIRPIN_TEST_TOKEN", "tok")
	cfg := parseConfig(t, "backend: routeros\nrouteros: {url: https://192.168.88.1, username: u, password_env: P}\n"+
		"wan: {interface: ether1, double_nat: off}\nlan: {interface: bridge}\nforwards: [{name: cam, port: 8090, to: \"192.168.88.180:80\"}]\n"+
		"ddns:\n"+
		"  - {provider: noip, hostname: home.example.net, username: me, password_env: HAIRPIN_TEST_DYNDNS_PASSWORD}\n"+
		"  - {provider: ovh-dynhost, hostname: home.example.org, username: example.org-home, password_env: HAIRPIN_TEST_DYNDNS_PASSWORD}\n"+
		"  - {provider: duckdns, hostname: cams.duckdns.org, token_env: HAIRPIN_TEST_TOKEN}\n")
	dns, err := DNSUpdates(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range dns {
		got = append(got, fmt.Sprint(u.Entry, " ", u.URL))
	}
	want := []string{"0 https://dynupdate.no-ip.com/nic/update?", "1 https://www.ovh.com/nic/update?system=dyndns&"}
	if !slices.Equal(got, want) {
		t.Errorf("router-updated entries %q, want %q", got, want)
	}
	script := Script(cfg, dns...)
	if c := evalFetch(t, script, 1, "203.0.113.7"); c.url != "https://www.ovh.com/nic/update?system=dyndns&hostname=home.example.org&myip=203.0.113.7" {
		t.Errorf("OVH's fetch url %s", c.url)
	}
	if !strings.Contains(script, "# ddns[2] (cams.duckdns.org, provider duckdns) is not updated by the router") {
		t.Error("the export does not say duckdns needs the daemon")
	}
}
