package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// The `hairpin lab --isp` scenarios: what the router can know and do about the network in front of it.

// ProbePort is where the lab's probe server listens on the internet host.
const ProbePort = 9470

// ProbeServer is a probe server the lab started: its https URL, the shared secret's file and its self-signed
// certificate (wan.probe.ca_file).
type ProbeServer struct{ URL, SecretFile, CAFile string }

// Section is the flow-style wan.probe value for it.
func (p ProbeServer) Section(interval string) string {
	return fmt.Sprintf("{url: %q, secret_file: %s, ca_file: %s, interval: %s}", p.URL, p.SecretFile, p.CAFile, interval)
}

// StartProbeServer runs `hairpin probe-server` over HTTPS on the internet host, with a fresh secret and a
// self-signed certificate for its address written to dir, and waits until it listens.
func (t *Topology) StartProbeServer(ctx context.Context, dir string) (ProbeServer, error) {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	p := ProbeServer{SecretFile: filepath.Join(dir, "probe.secret"), CAFile: filepath.Join(dir, "probe.crt")}
	if err := os.WriteFile(p.SecretFile, []byte(hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
		return p, err
	}
	keyFile := filepath.Join(dir, "probe.key")
	if err := selfSigned(t.InternetAddr, p.CAFile, keyFile); err != nil {
		return p, err
	}
	listen := fmt.Sprintf("%s:%d", t.InternetAddr, ProbePort)
	if _, _, err := t.Start(t.Internet, "probe-server", "--listen", listen, "--secret-file", p.SecretFile, "--tls-cert", p.CAFile,
		"--tls-key", keyFile, "--timeout", "1s", "--rate", "1000"); err != nil {
		return p, err
	}
	if err := poll.Until(ctx, 30*time.Second, func() bool {
		c, err := netns.Dialer(t.Internet)(ctx, "tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		return p, errors.New("the probe server did not start")
	}
	p.URL = "https://" + listen + "/"
	return p, nil
}

// selfSigned writes a certificate for addr (valid a day) and its key.
func selfSigned(addr netip.Addr, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hairpin lab probe server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{addr.AsSlice()},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
}

// ProveFromInternet probes every TCP forward from the internet host only.
func (t *Topology) ProveFromInternet(ctx context.Context) []Check {
	var checks []Check
	for _, c := range t.Cameras {
		checks = append(checks, t.probe(ctx, c, "tcp", t.vantagePoints()[1]))
	}
	return checks
}

// hairpinOut runs the hairpin binary in the router namespace and returns its output, whatever its exit code.
func (t *Topology) hairpinOut(ctx context.Context, args ...string) string {
	out, _ := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", t.Router, t.Bin}, args...)...).CombinedOutput()
	return string(out)
}

// runDaemon starts the router's daemon on cfg and waits for cond; the daemon logs to dir/daemon.log so that it
// can outlive a kept lab.
func (t *Topology) runDaemon(ctx context.Context, cfg RouterConfig, dir string, what string, cond func(*daemon.Status) bool) (*daemon.Status, error) {
	cfgPath, err := cfg.Write(dir, "hairpin.yaml")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "daemon.log")
	if _, err := t.StartToFile(t.Router, logPath, "run", "-c", cfgPath); err != nil {
		return nil, err
	}
	st, err := WaitDaemon(ctx, cfg.Status, 30*time.Second, cond)
	if err != nil {
		log, _ := os.ReadFile(logPath)
		return st, fmt.Errorf("the daemon never showed %s: %v\n%s", what, err, log)
	}
	return st, nil
}

func (t *Topology) ispConfig(dir string, ps ProbeServer) RouterConfig {
	cfg := t.RouterConfig()
	cfg.Status, cfg.StateDir = filepath.Join(dir, "hairpin.sock"), dir
	cfg.Probe, cfg.ProbeInterval = ps, 30*time.Second
	return cfg
}

func allMapped(s *daemon.Status) bool {
	return s.Upstream != nil && len(s.Upstream.Mappings) > 0 && s.Upstream.Mapped() == len(s.Upstream.Mappings)
}

func probeDone(s *daemon.Status) bool {
	return s.Probe != nil && (s.Probe.Error != "" || len(s.Probe.Results) > 0)
}

func classIs(c reach.Class) func(*daemon.Status) bool {
	return func(s *daemon.Status) bool { return len(s.Reachability) == 1 && s.Reachability[0].Class == c }
}

// demoUPnP: the box runs miniupnpd; the daemon maps every forward on it, the internet reaches every camera
// through both NATs, the LAN hairpins on the router, and the probe says reachable. The negative control is the
// daemon gone with its mappings deleted: the internet reaches nothing.
func (t *Topology) demoUPnP(ctx context.Context, out io.Writer, dir string) (int, error) {
	ps, err := t.StartProbeServer(ctx, dir)
	if err != nil {
		return 0, err
	}
	cfg := t.ispConfig(dir, ps)
	cfg.Upstream, cfg.UpstreamLease, cfg.UpstreamOnStop = "auto", 2*time.Minute, "delete"
	fmt.Fprintf(out, "\nAn ISP box (%s) runs miniupnpd (UPnP IGD, NAT-PMP and PCP) and owns the address %s; it forwards\nnothing by itself. A probe server runs on the internet host. Router config:\n%s\n",
		t.ISPBox, t.PublicAddr, indent(cfg.YAML()))
	// Negative control first: without the mapping nothing from the internet gets through.
	if _, err := t.Apply(ctx, mustWrite(cfg, dir, "apply.yaml")); err != nil {
		return 0, err
	}
	neg := t.ProveFromInternet(ctx)
	fmt.Fprintf(out, "Negative control: the router's forwards alone, the box maps nothing:\n\n")
	PrintChecks(out, neg, true)
	failed := Answered(neg)

	start := time.Now()
	if _, err := t.runDaemon(ctx, cfg, dir, "every port mapped and a green probe", func(s *daemon.Status) bool {
		return allMapped(s) && probeDone(s) && s.Probe.Unreachable() == 0
	}); err != nil {
		return failed, err
	}
	fmt.Fprintf(out, "\nrouter$ hairpin run -c %s   (mapped and probed green in %s)\nrouter$ hairpin status\n%s\n", filepath.Join(dir, "hairpin.yaml"),
		time.Since(start).Round(time.Millisecond), indent(t.hairpinOut(ctx, "status", "--socket", cfg.Status)))
	checks := t.ProveAll(ctx)
	fmt.Fprintf(out, "Every bookmark on the box's address %s:\n\n", t.PublicAddr)
	PrintChecks(out, checks, false)
	failed += Failures(checks)
	if failed == 0 {
		fmt.Fprintf(out, "\nThrough the box's own port mappings all %s work from the internet, the LAN and the router;\nwithout them all %s from the internet fail.\n", Counted(checks), Counted(neg))
	}
	return failed, nil
}

func mustWrite(cfg RouterConfig, dir, name string) string {
	p, _ := cfg.Write(dir, name)
	return p
}

// demoUnreachable is CGNAT and DS-Lite: the daemon classifies, withholds the DNS record, the probe fails and
// doctor explains; the internet reaches nothing whatever the router does.
func (t *Topology) demoUnreachable(ctx context.Context, out io.Writer, dir string, class reach.Class, story string) (int, error) {
	ps, err := t.StartProbeServer(ctx, dir)
	if err != nil {
		return 0, err
	}
	dnsDir := filepath.Join(dir, "bind")
	if err := os.MkdirAll(dnsDir, 0o700); err != nil {
		return 0, err
	}
	bind, err := t.StartDNS(ctx, dnsDir, time.Minute, nil)
	if err != nil {
		return 0, err
	}
	tsig := filepath.Join(dir, "tsig.secret")
	if err := os.WriteFile(tsig, []byte("aGFpcnBpbi1sYWItdHNpZy1rZXktbm90LXVzZWQ=\n"), 0o600); err != nil {
		return 0, err
	}
	if _, _, err := t.Start(t.Internet, "lab", "serve", "--whoami", "8080"); err != nil {
		return 0, err
	}
	cfg := t.ispConfig(dir, ps)
	cfg.PublicIP = []string{"http://" + t.InternetAddr.String() + ":8080/ip"}
	cfg.Extra = fmt.Sprintf("ddns:\n  - {provider: rfc2136, server: %q, zone: example.net, hostname: home.example.net, tsig_key: hairpin-key, tsig_secret_file: %s}\n",
		bind.Addr, tsig)
	fmt.Fprintf(out, "\n%s Router config:\n%s\n", story, indent(cfg.YAML()))
	if _, err := t.runDaemon(ctx, cfg, dir, string(class)+" and a probe", func(s *daemon.Status) bool { return classIs(class)(s) && probeDone(s) }); err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "router$ hairpin status\n%s\n", indent(t.hairpinOut(ctx, "status", "--socket", cfg.Status)))
	fmt.Fprintf(out, "router$ hairpin doctor\n%s\n", indent(t.hairpinOut(ctx, "doctor", "-c", filepath.Join(dir, "hairpin.yaml"))))
	failed := 0
	in, err := bind.exchange(ctx, func(m *dns.Msg) { m.SetQuestion("home.example.net.", dns.TypeA) })
	switch {
	case err != nil:
		return 0, err
	case len(in.Answer) > 0:
		failed++
		fmt.Fprintf(out, "UNEXPECTED: BIND has %v\n", in.Answer)
	default:
		fmt.Fprintf(out, "BIND at %s has no A record for home.example.net: the carrier's address was not published.\n", bind.Addr)
	}
	neg := t.ProveFromInternet(ctx)
	fmt.Fprintf(out, "\nFrom the internet, whatever the router does:\n\n")
	PrintChecks(out, neg, true)
	failed += Answered(neg)
	return failed, nil
}

// ispDemo runs the scenario of the topology's ISP kind.
func (t *Topology) ispDemo(ctx context.Context, out io.Writer, dir string) (int, error) {
	switch t.isp {
	case ISPUPnP:
		return t.demoUPnP(ctx, out, dir)
	case ISPCGNAT:
		return t.demoUnreachable(ctx, out, dir, reach.CGNAT, fmt.Sprintf(
			"The router's WAN address is %s, in the carrier's shared range 100.64.0.0/10; a carrier-grade NAT (%s)\nmasquerades it to %s, shared with other customers, and forwards nothing in.", t.RouterWAN, t.ISPBox, t.PublicAddr))
	case ISPDSLite:
		return t.demoUnreachable(ctx, out, dir, reach.DSLite, fmt.Sprintf(
			"The router is a DS-Lite B4: its IPv4 (%s on ds0) goes in an IPv6 tunnel to the AFTR (%s), which NATs it to %s.", t.RouterWAN, t.ISPBox, t.PublicAddr))
	}
	return 0, fmt.Errorf("no scenario for ISP %q", t.isp)
}
