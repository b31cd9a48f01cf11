package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/lab/bind"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// A second internet host sits on another network behind the internet namespace, which routes between the two
// like any ISP: the allowlist scenarios need one caller that is allowed and one that is not.
var (
	otherGW   = netip.MustParseAddr("198.51.100.1")
	otherAddr = netip.MustParseAddr("198.51.100.66")
)

// AddInternetHost adds the namespace PREFIX-NAME as a second internet host and returns its address. It is
// removed with the lab.
func (t *Topology) AddInternetHost(ctx context.Context, name string) (string, netip.Addr, error) {
	ns, err := t.addHost(ctx, name, t.Internet, "isp1", otherGW, otherAddr, sysctl{t.Internet, "net.ipv4.ip_forward", "1"})
	if err != nil {
		return "", netip.Addr{}, err
	}
	// The router's default route already leads through the internet host, which routes to both networks.
	return ns, otherAddr, nil
}

// A guest network hangs off the router on a third interface, guest0: neither the WAN nor the LAN.
var (
	guestGW   = netip.MustParseAddr("172.30.99.1")
	guestAddr = netip.MustParseAddr("172.30.99.2")
)

// GuestIf is the router's interface to the guest network.
const GuestIf = "guest0"

// AddGuestHost adds the namespace PREFIX-NAME as a host on a guest network behind the router's third
// interface (GuestIf), with reverse-path filtering off on the router as many routers have it, and returns
// the namespace and the host's address. It is removed with the lab.
func (t *Topology) AddGuestHost(ctx context.Context, name string) (string, netip.Addr, error) {
	ns, err := t.addHost(ctx, name, t.Router, GuestIf, guestGW, guestAddr,
		sysctl{t.Router, "net.ipv4.conf.all.rp_filter", "0"},
		sysctl{t.Router, "net.ipv4.conf." + GuestIf + ".rp_filter", "0"})
	if err != nil {
		return "", netip.Addr{}, err
	}
	return ns, guestAddr, nil
}

// addHost adds the namespace PREFIX-NAME, removed with the lab, as host on a /24 whose gateway gw is gwNS's
// interface gwIf, linked to the host's eth0; then the steps of extra.
func (t *Topology) addHost(ctx context.Context, name, gwNS, gwIf string, gw, host netip.Addr, extra ...step) (string, error) {
	ns := t.Prefix + "-" + name
	if err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return "", err
	}
	t.namespaces = append(t.namespaces, ns)
	wire := []step{
		cmdStep{ns, "link set lo up"},
		link{gwNS, gwIf, ns, "eth0"},
		addr{gwNS, gwIf, gw.String() + "/24"},
		addr{ns, "eth0", host.String() + "/24"},
		route{ns, gw.String()},
	}
	return ns, t.steps(ctx, append(wire, extra...)...)
}

// DNSServer is a BIND primary for example.net in the internet namespace that accepts updates from the
// internet host itself: the "DNS of the user's phone" whose address changes.
type DNSServer struct {
	Addr string // ip:port, reachable from the router
	ns   string
	cmd  *exec.Cmd
	log  *SafeBuffer
}

// StartDNS starts BIND's named in the internet namespace with example.net, every record at ttl, and the
// given A records (name -> address). Its files live in dir.
func (t *Topology) StartDNS(ctx context.Context, dir string, ttl time.Duration, records map[string]netip.Addr) (*DNSServer, error) {
	return t.startDNS(ctx, dir, ttl, records, "", "")
}

// StartDNSWithKey is StartDNS that also accepts updates signed with the TSIG key keyName (hmac-sha256, secret
// in base64), from anywhere: the router sends them from its WAN address.
func (t *Topology) StartDNSWithKey(ctx context.Context, dir string, ttl time.Duration, records map[string]netip.Addr, keyName, secret string) (*DNSServer, error) {
	return t.startDNS(ctx, dir, ttl, records, keyName, secret)
}

func (t *Topology) startDNS(ctx context.Context, dir string, ttl time.Duration, records map[string]netip.Addr, keyName, secret string) (*DNSServer, error) {
	named, err := exec.LookPath("named")
	if err != nil {
		if named, err = exec.LookPath("/usr/sbin/named"); err != nil {
			return nil, errors.New("BIND's named is not installed (apt-get install bind9)")
		}
	}
	ip := t.InternetAddr.String()
	zone := fmt.Sprintf("$TTL %d\n@ IN SOA ns.example.net. admin.example.net. 1 3600 600 86400 %[1]d\n@ IN NS ns.example.net.\nns IN A %s\n",
		int(ttl.Seconds()), ip)
	for name, a := range records {
		zone += fmt.Sprintf("%s IN A %s\n", name, a)
	}
	var keys []bind.Key
	if keyName != "" {
		keys = append(keys, bind.Key{Name: keyName, Secret: secret})
	}
	conf := bind.Conf(dir, ip, 53, "example.net", []string{ip}, keys...)
	for name, data := range map[string]string{"named.conf": conf, "example.net.zone": zone} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("ip", "netns", "exec", t.Internet, named, "-g", "-c", filepath.Join(dir, "named.conf"), "-u", "root")
	out := &SafeBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.procs = append(t.procs, cmd)
	s := &DNSServer{Addr: net.JoinHostPort(ip, "53"), ns: t.Internet, cmd: cmd, log: out}
	if err := poll.Until(ctx, 30*time.Second, func() bool { // generous: CI machines can be slow
		_, err := s.exchange(ctx, func(m *dns.Msg) { m.SetQuestion("example.net.", dns.TypeSOA) })
		return err == nil
	}); err != nil {
		return nil, fmt.Errorf("named did not answer within 30s: %s", out.String())
	}
	return s, nil
}

// Stop ends named; the lab's Close does too, but a test whose temporary directory holds named's files stops it
// before that directory is removed.
func (s *DNSServer) Stop() { StopProcess(s.cmd) }

// SetA replaces the A record of name (in example.net) with addr, by a DNS UPDATE as a user's phone app would.
func (s *DNSServer) SetA(ctx context.Context, name string, addr netip.Addr, ttl time.Duration) error {
	fqdn := dns.Fqdn(name + ".example.net")
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN A %s", fqdn, int(ttl.Seconds()), addr))
	if err != nil {
		return err
	}
	in, err := s.exchange(ctx, func(m *dns.Msg) {
		m.SetUpdate("example.net.")
		m.RemoveRRset([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
		m.Insert([]dns.RR{rr})
	})
	if err != nil {
		return err
	}
	if in.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("update refused: %s", dns.RcodeToString[in.Rcode])
	}
	return nil
}

// exchange sends one message from inside the internet namespace.
func (s *DNSServer) exchange(ctx context.Context, build func(*dns.Msg)) (*dns.Msg, error) {
	m := new(dns.Msg)
	build(m)
	conn, err := netns.Dialer(s.ns)(ctx, "udp", s.Addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := &dns.Client{Timeout: time.Second}
	in, _, err := c.ExchangeWithConn(m, &dns.Conn{Conn: conn})
	return in, err
}

// AAAA returns the AAAA records BIND serves for name (in example.net).
func (s *DNSServer) AAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	in, err := s.exchange(ctx, func(m *dns.Msg) { m.SetQuestion(dns.Fqdn(name+".example.net"), dns.TypeAAAA) })
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range in.Answer {
		if r, ok := rr.(*dns.AAAA); ok {
			if a, ok := netip.AddrFromSlice(r.AAAA); ok {
				out = append(out, a)
			}
		}
	}
	return out, nil
}
