package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/probe"
)

// startProbeServer runs the lab's probe server (HTTPS, self-signed) on the internet host.
func startProbeServer(t *testing.T, topo *lab.Topology) lab.ProbeServer {
	t.Helper()
	ps, err := topo.StartProbeServer(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestProbe: the daemon asks a probe server on the internet host after the upstream mapping and finds every
// camera reachable at the box's public address; with the mapping gone the box refuses (reset), and with the box
// dropping the ports the probe times out. `hairpin probe` prints the same table. A wrong secret is refused by
// the server.
func TestProbe(t *testing.T) {
	t.Parallel()
	topo := upnpLab(t)
	ps := startProbeServer(t, topo)
	url, secretFile := ps.URL, ps.SecretFile
	cfg, sock := daemonConfig(t, topo, "")
	setWAN(t, cfg, "wan:\n  interface: wan0\n  upstream: pcp\n  upstream_lease: 10s\n  upstream_on_stop: delete\n"+
		"  probe: "+ps.Section("10s")+"\n")
	d := startDaemon(t, topo, cfg, sock)
	st := d.waitStatus(t, "a green probe", func(s *daemon.Status) bool {
		return s.Probe != nil && len(s.Probe.Results) == 4 && s.Probe.Unreachable() == 0
	})
	if st.Probe.Address != topo.PublicAddr.String() {
		t.Errorf("the probe server connected to %s, want the public address %s", st.Probe.Address, topo.PublicAddr)
	}
	out, code := hairpin(t, topo, "probe", "-c", cfg)
	if code != 0 || strings.Count(out, "reachable") != 4 {
		t.Fatalf("hairpin probe: %d\n%s", code, out)
	}

	// Refusal: without the mapping the box answers the probe's SYN with a reset.
	d.stop(t)
	// Without the daemon, behind the box, `hairpin probe` is told the public address; a wrong one is refused by
	// the server, which says where the request came from.
	out, code = hairpin(t, topo, "probe", "-c", cfg, "--expect", topo.InternetAddr.String())
	if code == 0 || !strings.Contains(out, "came from "+topo.PublicAddr.String()+", not "+topo.InternetAddr.String()) {
		t.Fatalf("hairpin probe expecting another address: %d\n%s", code, out)
	}
	expect := []string{"--expect", topo.PublicAddr.String()}
	boxLacks(t, topo, "8090")
	out, code = hairpin(t, topo, append([]string{"probe", "-c", cfg}, expect...)...)
	if code == 0 || strings.Count(out, probe.ResultRefused) != 4 || !strings.Contains(out, "4 of 4 forwards cannot be reached") {
		t.Fatalf("hairpin probe without the mapping: %d\n%s", code, out)
	}

	// Timeout: the box drops the ports.
	for _, c := range [][]string{{"add", "table", "inet", "probedrop"},
		{"add", "chain", "inet", "probedrop", "in", "{ type filter hook prerouting priority raw; }"},
		{"add", "rule", "inet", "probedrop", "in", "tcp", "dport", "8090-8093", "drop"}} {
		if _, err := lab.Exec(context.Background(), topo.ISPBox, "nft", c...); err != nil {
			t.Fatal(err)
		}
	}
	out, code = hairpin(t, topo, append([]string{"probe", "-c", cfg}, expect...)...)
	if code == 0 || strings.Count(out, probe.ResultTimeout) != 4 {
		t.Fatalf("hairpin probe with the box dropping: %d\n%s", code, out)
	}

	// A request signed with the right secret that names another address (the laptop's camera, say) is refused:
	// the server connects only back to the caller.
	key, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(probe.Request{Address: topo.InternetAddr.String(), Ports: []probe.Port{{Protocol: "tcp", Port: 9470}},
		Time: time.Now().Unix(), Nonce: "integration-nonce-0001"})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(probe.HeaderSig, probe.Sign(bytes.TrimSpace(key), body))
	ca, err := os.ReadFile(ps.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: netns.Dialer(topo.Router), TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(msg), "only back to the address the request comes from") {
		t.Fatalf("a request to probe another address: %s %s", resp.Status, msg)
	}

	// A wrong secret: the server refuses, and connects nowhere.
	wrong := filepath.Join(t.TempDir(), "wrong.secret")
	if err := os.WriteFile(wrong, []byte("not the secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(text), secretFile, wrong, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = hairpin(t, topo, append([]string{"probe", "-c", cfg}, expect...)...)
	if code == 0 || !strings.Contains(out, "bad signature") {
		t.Fatalf("hairpin probe with a wrong secret: %d\n%s", code, out)
	}
}
