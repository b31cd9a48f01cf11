// Package routeros is hairpin's MikroTik backend: it installs the plan on a RouterOS v7 router through the
// REST API (address lists for the WAN addresses and LAN subnets, dst-nat rules per forward for the router's
// interfaces and its own connections, a mangle rule marking hairpinned connections and a masquerade of that
// mark), follows the router's own addresses for the daemon (Observe), and writes the equivalent
// RouterOS script for users who want no daemon (Script).
//
// Ownership: every item hairpin creates carries a comment marker (MarkerPrefix). Items without it are the
// user's and are never changed, moved or removed, whatever happens. Drift in hairpin's items (edited,
// disabled, deleted, duplicated, shadowed) is repaired by the next reconcile. Changing the comment of one of
// hairpin's items hands it over to the user: hairpin leaves it alone from then on and creates its own again.
package routeros

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/secret"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// Backend reconciles hairpin's items on one router. Its methods may be called from several goroutines; they
// run one at a time.
type Backend struct {
	c     *client
	log   *slog.Logger
	wanIf string
	lanIf string
	cloud bool
	// ipv6: some forward has a literal to6, so Observe reads /ipv6/address and Apply keeps the /ipv6 firewall
	// items; without it hairpin reads nothing of /ipv6 (Down still clears it).
	ipv6 bool
	// cloudWarned: the warning that IP Cloud is off behind a private WAN address was logged and still holds.
	cloudWarned bool
	// members is /interface/list/member as this Apply read it (nil: not read yet).
	members []Entry
	mu      lock.Mutex
}

var _ backend.Backend = (*Backend)(nil)

type options struct {
	wanIf, lanIf string
	ipv6         bool
	timeout      time.Duration
}

// Option changes how New builds a Backend.
type Option func(*options)

// withInterfaces names the router's WAN and LAN interfaces, which Observe reads addresses from.
func withInterfaces(wan, lan string) Option {
	return func(o *options) { o.wanIf, o.lanIf = wan, lan }
}

// withIPv6 makes the backend forward on IPv6 too (a forward has a literal to6).
func withIPv6(on bool) Option { return func(o *options) { o.ipv6 = on } }

// withTimeout bounds each request (default routeros.timeout, 55 s).
func withTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// New connects nothing yet: it reads the password, prepares TLS (pinning the certificate when
// tls_fingerprint is set) and returns a Backend whose first request shows whether the router is reachable
// and the credentials are right.
func New(cfg *config.RouterOS, logger *slog.Logger, opts ...Option) (*Backend, error) {
	if cfg == nil {
		return nil, errors.New("backend routeros needs a routeros: section in the config")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := options{timeout: cfg.Timeout}
	if o.timeout <= 0 {
		o.timeout = config.DefaultRouterOSTimeout
	}
	for _, opt := range opts {
		opt(&o)
	}
	password, err := ReadPassword(cfg, logger)
	if err != nil {
		return nil, err
	}
	var caPEM []byte
	if cfg.CAFile != "" {
		// A regular file of at most 1 MB: a FIFO or device named here would hang the start.
		if caPEM, err = secret.ReadFile(cfg.CAFile, 1<<20); err != nil {
			return nil, errfmt.Errorf("routeros.ca_file: %w", err)
		}
	}
	tc, err := tlsConfig(cfg, caPEM)
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg, password, tc, o.timeout)
	if err != nil {
		return nil, err
	}
	return &Backend{c: c, log: logger, wanIf: o.wanIf, lanIf: o.lanIf, cloud: cfg.IPCloud, ipv6: o.ipv6}, nil
}

// fromConfig is New for a whole config: the router settings and the interface names.
func fromConfig(cfg *config.Config, logger *slog.Logger, opts ...Option) (*Backend, error) {
	v6 := false
	for _, f := range cfg.Forwards {
		v6 = v6 || f.To6.IsValid() && !f.To6.IID
	}
	return New(cfg.RouterOS, logger, append([]Option{withInterfaces(cfg.WAN.Interface, cfg.LAN.Interface), withIPv6(v6)}, opts...)...)
}

// ReadPassword takes the password from the file (read by secret.Read) or the environment variable the config
// names. A file others can read is used but warned about.
func ReadPassword(cfg *config.RouterOS, logger *slog.Logger) (string, error) {
	if cfg.PasswordEnv == "" && cfg.PasswordFile == "" {
		return "", errors.New("routeros: set password_file or password_env")
	}
	pw, err := readSecret(cfg.PasswordFile, cfg.PasswordEnv, cfg.ConfigDir, cfg.SecretOwners, logger)
	if err != nil {
		return "", errfmt.Errorf("routeros.%w", err)
	}
	return pw, nil
}

// readSecret reads a secret from the environment variable env, else from file by secret.Read's rules; its
// errors start with the key that named the source.
func readSecret(file, env, configDir string, owners []int, logger *slog.Logger) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", errfmt.Errorf("password_env: environment variable %s is not set or empty", env)
		}
		return v, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pw, err := secret.Read(file, secret.Options{ConfigDir: configDir, Owners: owners,
		Warn: func(msg string, args ...any) { logger.Warn("routeros: "+msg, args...) }})
	if err != nil {
		return "", errfmt.Errorf("password_file: %w", err)
	}
	return pw, nil
}

// Requests returns how many reads (GET, print) and writes this Backend has sent, for logs and tests.
func (b *Backend) Requests() (reads, writes int64) { return b.c.reads.Load(), b.c.writes.Load() }

// Apply makes hairpin's items on the router exactly d: three reads, then only the writes that differ.
func (b *Backend) Apply(ctx context.Context, d *plan.Desired) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.members = nil
	nat, err := b.readTable(ctx, pathNAT, url.Values{".proplist": {natProps}})
	if err != nil {
		return err
	}
	mangle, err := b.readTable(ctx, pathMangle, url.Values{".proplist": {mangleProps}})
	if err != nil {
		return err
	}
	want := allowLists(d)
	wanted := map[string]bool{}
	var names []string
	for _, l := range want {
		wanted[l.forward] = true
		names = append(names, l.forward)
	}
	stale := staleAllowLists(nat, wanted)
	lists, err := b.readLists(ctx, append(names, stale...)...)
	if err != nil {
		return err
	}
	if err := b.syncList(ctx, lists, ListWAN, markWAN, addrStrings(d.WANAddrs, netip.Addr.Is4)); err != nil {
		return err
	}
	if err := b.syncList(ctx, lists, ListLAN, markLAN, prefixStrings(d.LANNets)); err != nil {
		return err
	}
	// A forward that loses its allow list: its entries go before the rule that names them, so that a failure
	// in between leaves the rule, which the next reconcile finds the list by.
	for _, f := range stale {
		var ids []string
		for _, e := range lists.entries {
			if e["comment"] == markAllow(f) {
				ids = append(ids, e.ID())
			}
		}
		if err := b.removeAll(ctx, lists, ids); err != nil {
			return err
		}
	}
	for _, l := range want {
		if err := b.syncList(ctx, lists, l.name, l.mark, l.entries); err != nil {
			return err
		}
	}
	if err := b.syncRules(ctx, nat, natItems(d), (*table).firstShadow); err != nil {
		return err
	}
	if err := b.syncRules(ctx, mangle, mangleItems(d), (*table).firstInChain); err != nil {
		return err
	}
	if !b.ipv6 && d.V6 == nil {
		return nil
	}
	return b.apply6(ctx, d)
}

// apply6 makes hairpin's /ipv6 firewall items exactly d's IPv6 side, in the same order as on IPv4: the list,
// then the rules that name it.
func (b *Backend) apply6(ctx context.Context, d *plan.Desired) error {
	nat, err := b.readTable(ctx, pathNAT6, url.Values{".proplist": {natProps6}})
	if err != nil {
		return err
	}
	mangle, err := b.readTable(ctx, pathMangle6, url.Values{".proplist": {mangleProps6}})
	if err != nil {
		return err
	}
	lists, err := b.readLists6(ctx)
	if err != nil {
		return err
	}
	// With forwards the list goes first, so a new rule never names an empty list; without, the rules go first
	// and then the list nothing names any more.
	rules := natItems6(d, b.lanIf)
	if len(rules) > 0 {
		if err := b.syncList(ctx, lists, ListWAN, markWAN, addrStrings(d.V6.WANAddrs, isIPv6)); err != nil {
			return err
		}
	}
	if err := b.syncRules(ctx, nat, rules, (*table).firstShadow); err != nil {
		return err
	}
	if err := b.syncRules(ctx, mangle, mangleItems6(d, b.lanIf), (*table).firstInChain); err != nil {
		return err
	}
	filter, err := b.readTable(ctx, pathFilter6, url.Values{".proplist": {filterProps6}})
	if err != nil {
		return err
	}
	if err := b.syncRules(ctx, filter, filterItems6(d, b.wanIf), (*table).finalDrop); err != nil {
		return err
	}
	if len(rules) == 0 {
		return b.syncList(ctx, lists, ListWAN, markWAN, nil)
	}
	return nil
}

// withLists makes items that match the WAN or LAN interface by name match the default configuration's
// interface list (WAN, LAN) instead when the interface is an enabled member of it: one read per Apply, only
// when some item matches an interface.
func (b *Backend) withLists(ctx context.Context, items []item) ([]item, error) {
	if !hasInInterface(items) {
		return items, nil
	}
	if b.members == nil {
		members, err := b.c.do(ctx, web.MethodGet, pathListMember, url.Values{".proplist": {"list,interface,disabled"}}, nil)
		if err != nil {
			return nil, err
		}
		b.members = append(make([]Entry, 0, len(members)), members...)
	}
	lists := map[string]string{}
	for _, m := range b.members {
		if m["disabled"] == "true" {
			continue
		}
		switch {
		case m["list"] == IfListWAN && m["interface"] == b.wanIf:
			lists[b.wanIf] = IfListWAN
		case m["list"] == IfListLAN && m["interface"] == b.lanIf:
			lists[b.lanIf] = IfListLAN
		}
	}
	return useLists(items, lists), nil
}

// staleAllowLists names the forwards whose allow list hairpin's rules on the router still use but that d does
// not want (the forward is gone, or open now).
func staleAllowLists(nat *table, wanted map[string]bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range nat.entries {
		f, ok := strings.CutPrefix(e["src-address-list"], ListAllowPrefix)
		if !ok || !owned(e["comment"]) || wanted[f] || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, f)
	}
	return out
}

// SetWANAddrs rewrites only the WAN address list: one read, and one write per changed address.
func (b *Backend) SetWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	lists, err := b.readLists(ctx)
	if err != nil {
		return err
	}
	return b.syncList(ctx, lists, ListWAN, markWAN, addrStrings(addrs, netip.Addr.Is4))
}

// Down removes every marked item. The scheduler entries, the hooks in the WAN's DHCP client or PPP profile
// scripts and the updater script that `hairpin export routeros` creates go first, so the updater cannot run
// halfway and add list entries back; then the rules (the mangle mark before the masquerade that uses it, the
// NAT rules before the lists they name), then the lists.
func (b *Backend) Down(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, err := b.readTable(ctx, pathScheduler, url.Values{"comment": {markUpdater}, ".proplist": {".id,comment"}})
	if err != nil {
		return err
	}
	if _, err := b.removeOwned(ctx, t, markUpdater); err != nil {
		return err
	}
	for _, h := range []struct{ path, prop string }{{pathDHCPClient, "script"}, {pathPPPProfile, "on-up"}} {
		if err := b.unhook(ctx, h.path, h.prop); err != nil {
			return err
		}
	}
	for _, mark := range []string{markUpdater, markDDNS} {
		t, err := b.readTable(ctx, pathScript, url.Values{"comment": {mark}, ".proplist": {".id,comment"}})
		if err != nil {
			return err
		}
		if _, err := b.removeOwned(ctx, t, mark); err != nil {
			return err
		}
	}
	// The allow lists hairpin's rules name: found before the rules go.
	nat, err := b.readTable(ctx, pathNAT, url.Values{".proplist": {".id,comment,src-address-list"}})
	if err != nil {
		return err
	}
	allow := staleAllowLists(nat, nil)
	rules := 0
	for _, path := range []string{pathMangle, pathNAT, pathFilter6, pathMangle6, pathNAT6} {
		t, err := b.readTable(ctx, path, url.Values{".proplist": {".id,comment"}})
		if err != nil {
			return err
		}
		n, err := b.removeOwned(ctx, t, MarkerPrefix)
		if err != nil {
			return err
		}
		rules += n
	}
	lists, err := b.readLists(ctx, allow...)
	if err != nil {
		return err
	}
	m, err := b.removeOwned(ctx, lists, MarkerPrefix)
	if err != nil {
		return err
	}
	// The state of the exported DNS script: its own lists, found by their marker alone.
	state, err := b.readTable(ctx, pathAddrList, url.Values{"comment": {markDDNS}, ".proplist": {".id,comment"}})
	if err != nil {
		return err
	}
	n, err := b.removeOwned(ctx, state, markDDNS)
	if err != nil {
		return err
	}
	m += n
	lists6, err := b.readLists6(ctx)
	if err != nil {
		return err
	}
	m6, err := b.removeOwned(ctx, lists6, MarkerPrefix)
	if err != nil {
		return err
	}
	m += m6
	b.log.Info("removed hairpin's items from the router", "rules", rules, "address_list_entries", m)
	return nil
}

// unhook cuts hairpin's hook out of the scripts (property prop of menu path) that hold it, keeping the rest of
// each script as the user wrote it.
func (b *Backend) unhook(ctx context.Context, path, prop string) error {
	t, err := b.readTable(ctx, path, url.Values{".proplist": {".id," + prop}})
	if err != nil {
		return err
	}
	for _, e := range t.entries {
		if s, ok := cutHook(e[prop]); ok {
			if err := b.patch(ctx, t, e.ID(), Entry{prop: s}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Counters sums the bytes and packets of each forward's dst-nat rules (both protocols, the router's own
// connections, and the WAN interface rule behind a second NAT). The rules carry their forward's name, so the
// plan is not needed.
func (b *Backend) Counters(ctx context.Context, _ *plan.Desired) (map[string]backend.Counter, error) {
	entries, err := b.c.do(ctx, web.MethodGet, pathNAT, url.Values{".proplist": {".id,comment,bytes,packets"}}, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]backend.Counter{}
	for _, e := range entries {
		name := forwardOf(e["comment"])
		if name == "" {
			continue
		}
		c := out[name]
		c.Bytes += parseUint(e["bytes"])
		c.Packets += parseUint(e["packets"])
		out[name] = c
	}
	return out, nil
}

// Observe reads what the router knows about its own addresses: the WAN interface's IPv4 addresses, the LAN
// interface's subnets, and (when routeros.ip_cloud is on and the router has one) the public address that
// /ip/cloud detected. Disabled and invalid addresses are skipped. It is one or two reads, cheap enough for
// the daemon to poll every routeros.poll_interval.
func (b *Backend) Observe(ctx context.Context) (plan.Observed, error) {
	// RouterOS lists addresses, not links: a router that answers is taken to have its WAN interface.
	obs := plan.Observed{WANExists: true}
	wan, lan, err := b.interfaceAddrs(ctx, pathAddress, "address,interface,disabled,invalid", netip.Addr.Is4)
	if err != nil {
		return obs, err
	}
	obs.WANAddrs = wan
	for _, p := range lan {
		obs.LANNets = append(obs.LANNets, p.Masked())
	}
	if b.ipv6 {
		if err := b.observe6(ctx, &obs); err != nil {
			return obs, err
		}
	}
	if b.cloud {
		got, err := b.c.do(ctx, web.MethodGet, pathCloud, url.Values{".proplist": {"public-address,ddns-enabled"}}, nil)
		if err != nil {
			return obs, err
		}
		if len(got) == 1 {
			if a, err := netip.ParseAddr(got[0]["public-address"]); err == nil && a.Is4() {
				obs.Public = a
			}
			b.warnCloudOff(got[0]["ddns-enabled"] == "true", obs.WANAddrs)
		}
	}
	return obs, nil
}

// warnCloudOff says once, while it lasts, that IP Cloud cannot tell the public address behind another NAT
// because it is off: hairpin does not turn it on (it makes the router report to MikroTik's servers).
func (b *Backend) warnCloudOff(enabled bool, wan []netip.Addr) {
	private := slices.ContainsFunc(wan, func(a netip.Addr) bool { return a.IsPrivate() || cgnat.Contains(a) })
	off := !enabled && private
	if off && !b.cloudWarned {
		b.log.Warn("routeros: the WAN address is private and IP Cloud is off, so the router cannot tell its public address; "+
			"run /ip cloud set ddns-enabled=yes on the router, or set routeros.public_address: off and let wan.public_ip find it",
			"wan", wan)
	}
	b.cloudWarned = off
}

// cgnat is the shared address space of carrier NAT (RFC 6598), private to the ISP.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// observe6 reads the WAN interface's IPv6 addresses and the LAN interface's (with their prefix length) from
// /ipv6/address. Disabled, invalid and deprecated addresses are skipped; which of them are global is the
// plan's business (link-local ones never are).
func (b *Backend) observe6(ctx context.Context, obs *plan.Observed) error {
	wan, lan, err := b.interfaceAddrs(ctx, pathAddress6, "address,interface,disabled,invalid,deprecated", isIPv6)
	if err != nil {
		return err
	}
	sort.Slice(wan, func(i, j int) bool { return wan[i].Less(wan[j]) })
	obs.WAN6, obs.LAN6 = wan, lan
	return nil
}

// interfaceAddrs reads an address menu (/ip/address, /ipv6/address) for the WAN interface's addresses and the
// LAN interface's, with their prefix length, of the family is accepts. Disabled, invalid and (on /ipv6)
// deprecated addresses are skipped; props is the .proplist the menu takes.
func (b *Backend) interfaceAddrs(ctx context.Context, path, props string, is func(netip.Addr) bool) (wan []netip.Addr, lan []netip.Prefix, err error) {
	entries, err := b.c.do(ctx, web.MethodGet, path, url.Values{".proplist": {props}}, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if e["disabled"] == "true" || e["invalid"] == "true" || e["deprecated"] == "true" {
			continue
		}
		p, err := netip.ParsePrefix(e["address"])
		if err != nil || !is(p.Addr()) {
			continue
		}
		switch e["interface"] {
		case b.wanIf:
			wan = append(wan, p.Addr())
		case b.lanIf:
			lan = append(lan, p)
		}
	}
	return wan, lan, nil
}

// addrStrings writes the addresses of the family is accepts, for an address list.
func addrStrings(addrs []netip.Addr, is func(netip.Addr) bool) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if is(a) {
			out = append(out, a.String())
		}
	}
	return out
}

func prefixStrings(nets []netip.Prefix) []string {
	out := make([]string, 0, len(nets))
	for _, p := range nets {
		if p.Addr().Is4() {
			out = append(out, canonAddr(p.Masked().String()))
		}
	}
	return out
}

func parseUint(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}
