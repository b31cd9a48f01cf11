package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/hairpin-nat/hairpin/internal/allowdns"
	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/reach"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

// Status is what `hairpin status` shows. It never holds a secret: DDNS status comes from the engine's own
// redacted view.
type Status struct {
	// Verdict is the one answer at the top of the page: does every forward work from everywhere.
	Verdict Verdict `json:"verdict"`
	// NoDaemon marks the kernel view: no daemon answered, and this is what the backend holds now.
	NoDaemon bool   `json:"no_daemon,omitempty"`
	Version  string `json:"version"`
	// Hostname is the router's host name, for a page open beside another router's.
	Hostname      string    `json:"hostname,omitempty"`
	Config        string    `json:"config"`
	Backend       string    `json:"backend"`
	Started       time.Time `json:"started"`
	WANInterface  string    `json:"wan_interface"`
	WANExists     bool      `json:"wan_exists"`
	WANAddrs      []string  `json:"wan_addresses"`
	LANInterface  string    `json:"lan_interface"`
	LANNets       []string  `json:"lan_subnets"`
	Public        string    `json:"public_address,omitempty"`
	PublicFrom    string    `json:"public_address_source,omitempty"`
	PublicError   string    `json:"public_address_error,omitempty"`
	DoubleNAT     bool      `json:"double_nat"`
	DoubleNATMode string    `json:"double_nat_mode"`
	// HARole is "master" or "backup" for a router of an HA pair (ha:), empty for one on its own.
	HARole string `json:"ha_role,omitempty"`
	// Reachability is the classification per address family: IPv4, then IPv6 when the WAN has global IPv6 or a
	// forward has to6.
	Reachability []reach.Verdict `json:"reachability"`
	// Upstream is the port mapping on the box in front (wan.upstream).
	Upstream *upstream.Status `json:"upstream,omitempty"`
	// Probe is the last reachability probe (wan.probe).
	Probe      *ProbeStatus `json:"probe,omitempty"`
	ForwardSet []string     `json:"forwarding_addresses"`
	// WAN6Addrs are the usable IPv6 addresses of the WAN interface; ForwardSet6 those IPv6 forwards answer on.
	WAN6Addrs     []string  `json:"wan_ipv6_addresses,omitempty"`
	ForwardSet6   []string  `json:"forwarding_ipv6_addresses,omitempty"`
	Installed     bool      `json:"rules_installed"`
	LastApply     time.Time `json:"last_apply,omitempty"`
	LastApplyTook string    `json:"last_apply_took,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	// ChangedUnder says which one-shot command changed the rules under the running daemon (apply or down with
	// --force); the daemon re-applies its config at its next event.
	ChangedUnder string `json:"rules_changed_under_daemon,omitempty"`
	// CrashRecordError is why the record of a WAN set update in progress could not be written: while it
	// is set, a crash during an update leaves the old address forwarding until the next full apply.
	CrashRecordError string                `json:"crash_record_error,omitempty"`
	Forwards         []ForwardStatus       `json:"forwards"`
	DDNS             []ddns.HostStatus     `json:"ddns,omitempty"`
	AllowedHosts     []allowdns.HostStatus `json:"allowed_hosts,omitempty"`
	Events           []Event               `json:"events"`
	// Notify lists the notification targets (scheme and host only) and how delivery goes.
	Notify []notify.TargetStatus `json:"notify,omitempty"`
	// Control says whether the listener asked takes actions (daemon.control and, on TCP, a token); the page
	// shows them then.
	Control bool `json:"control"`
}

// ForwardStatus is one forward with its traffic.
type ForwardStatus struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     string `json:"port"`
	To       string `json:"to"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	// Allow lists the sets that may reach the forward from the internet; nil means everyone.
	Allow []string `json:"allow,omitempty"`
	Limit string   `json:"limit,omitempty"`
	// Packets from the internet dropped by the allowlist and by the connection limit.
	DroppedAllow uint64 `json:"dropped_allow"`
	DroppedLimit uint64 `json:"dropped_limit"`
	// IPv6 is where the forward goes on IPv6 now ("[2001:db8:1::180]:80"), or "off: " and why not.
	IPv6 string `json:"ipv6"`
}

// Status collects the current state, counters included.
func (d *Daemon) Status(ctx context.Context) Status {
	d.mu.Lock()
	inForce := d.lastGood
	d.mu.Unlock()
	counters, cerr := d.counters.read(ctx, d.deps.Backend, inForce)
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		Version: d.deps.Version, Hostname: d.hostname, Started: d.started, PublicFrom: d.publicFrom, PublicError: d.publicErr,
		Installed: d.installed != nil, LastApply: d.lastApply, LastError: d.lastErr, CrashRecordError: d.intentErr,
		Events: append([]Event(nil), d.events...),
	}
	public := d.public
	if !public.IsValid() {
		public = d.obs.Public
	}
	s.fill(d.cfg, d.obs, public, d.installed)
	s.ChangedUnder = d.forced()
	if d.cfg.HA != nil {
		s.HARole = "backup"
		if plan.Master(d.cfg, d.obs) {
			s.HARole = "master"
		}
	}
	if d.verdict.Class != "" {
		s.Reachability = []reach.Verdict{d.verdict}
	}
	if d.verdict6.Class != "" {
		s.Reachability = append(s.Reachability, d.verdict6)
	}
	if d.up != nil {
		us := d.up.m.Status()
		s.Upstream = &us
	}
	s.Probe = d.probeSt
	if d.lastApplyIn > 0 {
		s.LastApplyTook = d.lastApplyIn.Round(time.Microsecond).String()
	}
	if cerr != nil && s.LastError == "" {
		s.LastError = "reading counters: " + cerr.Error()
	}
	s.Forwards = ForwardRows(d.cfg, d.installed, counters)
	if d.hosts != nil {
		s.AllowedHosts = d.hosts.Status()
	}
	if d.ddns != nil {
		s.DDNS = d.ddns.Status()
	}
	s.Notify = d.notifier.Status()
	s.Verdict = verdictOf(&s)
	return s
}

// Installed is the status without a daemon: what the backend holds now (rules and counters), for the current
// addresses, so that `hairpin status` answers after a one-shot `hairpin apply` too. The plan is the one apply
// would make now; allow lists' hostnames are not looked up.
func Installed(ctx context.Context, cfg *config.Config, drv *backend.Driver) (Status, error) {
	inst, isInst := drv.Backend.(backend.Installer)
	if !isInst {
		return Status{}, errfmt.Errorf("backend %s cannot tell what is installed without the daemon", cfg.Backend)
	}
	obs, oerr := drv.Observe(ctx)
	s := Status{NoDaemon: true}
	if oerr != nil {
		s.LastError = oerr.Error()
	}
	ok, err := inst.Installed(ctx)
	if err != nil {
		return s, err
	}
	d, _ := plan.Build(cfg, obs, drv.PlanOptions)
	var installed *plan.Desired
	var counters map[string]backend.Counter
	if ok {
		installed, s.Installed = d, true
		if counters, err = drv.Counters(ctx, d); err != nil {
			return s, err
		}
	}
	s.fill(cfg, obs, obs.Public, installed)
	s.Forwards = ForwardRows(cfg, installed, counters)
	return s, nil
}

// fill sets what the daemon and the kernel view share: the config's names, the observed addresses and where
// the installed plan forwards.
func (s *Status) fill(cfg *config.Config, obs plan.Observed, public netip.Addr, installed *plan.Desired) {
	s.Config, s.Backend = cfg.File, string(cfg.Backend)
	s.WANInterface, s.WANExists, s.LANInterface = cfg.WAN.Interface, obs.WANExists, cfg.LAN.Interface
	s.DoubleNAT, s.DoubleNATMode = plan.IsDoubleNAT(cfg.WAN.DoubleNAT, obs.WANAddrs), string(cfg.WAN.DoubleNAT)
	if public.IsValid() {
		s.Public = public.String()
	} else {
		// Without a second NAT the internet sees the WAN address itself.
		for _, a := range obs.WANAddrs {
			if ipclass.IsPublic(a) {
				s.Public, s.PublicFrom = a.String(), "the WAN interface"
				break
			}
		}
	}
	for _, a := range obs.WANAddrs {
		s.WANAddrs = append(s.WANAddrs, a.String())
	}
	for _, n := range obs.LANNets {
		s.LANNets = append(s.LANNets, n.String())
	}
	for _, a := range obs.WAN6 {
		s.WAN6Addrs = append(s.WAN6Addrs, a.String())
	}
	if installed == nil {
		return
	}
	if installed.V6 != nil {
		for _, a := range installed.V6.WANAddrs {
			s.ForwardSet6 = append(s.ForwardSet6, a.String())
		}
	}
	for _, a := range installed.WANAddrs {
		s.ForwardSet = append(s.ForwardSet, a.String())
	}
	for _, n := range installed.LANNets {
		s.LANNets = appendMissing(s.LANNets, n.String())
	}
}

// ForwardRows is one row per configured forward with its counters and where it goes on IPv6 under the
// installed plan: the daemon's status and the kernel view both show these.
func ForwardRows(cfg *config.Config, installed *plan.Desired, counters map[string]backend.Counter) []ForwardStatus {
	rows := make([]ForwardStatus, 0, len(cfg.Forwards))
	for _, f := range cfg.Forwards {
		c := counters[f.Name]
		fs := ForwardStatus{Name: f.Name, Protocol: string(f.Protocol), Port: f.Port.String(),
			To: fmt.Sprintf("%s:%s", f.To, f.ToPort), Packets: c.Packets, Bytes: c.Bytes, DroppedAllow: c.AllowDrops, DroppedLimit: c.LimitDrops}
		if f.AllowOn {
			fs.Allow = append([]string{}, f.Allow...)
		}
		if f.Limit != nil {
			fs.Limit = f.Limit.String()
		}
		fs.IPv6 = IPv6Status(installed, f.Name)
		rows = append(rows, fs)
	}
	return rows
}

// IPv6Status says where forward name goes on IPv6 under the installed plan, or why it does not.
func IPv6Status(installed *plan.Desired, name string) string {
	if installed == nil {
		return "off: no rules installed"
	}
	r, why := installed.V6.Target6(name)
	if why != "" {
		return "off: " + why
	}
	return fmt.Sprintf("[%s]:%s", r.To, r.ToPort)
}

func appendMissing(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// countersEvery is how often status and metrics read the kernel's counters at most; requests in between, and
// requests waiting on a read, share its result. A flood of status requests costs the kernel one read a second.
const countersEvery = time.Second

type counterCache struct {
	mu   lock.Mutex // held during a read, so concurrent requests wait for it and share it
	at   time.Time
	plan *plan.Desired
	vals map[string]backend.Counter
	err  error
}

func (c *counterCache) read(ctx context.Context, be backend.Backend, p *plan.Desired) (map[string]backend.Counter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && c.plan == p && time.Since(c.at) < countersEvery {
		return c.vals, c.err
	}
	c.vals, c.err = be.Counters(ctx, p)
	c.at, c.plan = time.Now(), p
	return c.vals, c.err
}

// writeStatus writes st as indented JSON, as json.Encoder with SetIndent("", "  ") does, one forward at a time:
// 10,000 forwards are 2.5 MB of JSON, which Encoder builds whole (twice: compact, then indented) and which then
// stayed in the idle daemon's heap, 12 MB more after a few status requests.
func writeStatus(w io.Writer, st Status) error {
	fwds := st.Forwards
	if len(fwds) == 0 {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	st.Forwards = nil
	head, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	// A top-level key at the start of a line: the JSON of a string value never holds a newline.
	const key = "\n  \"forwards\": "
	at := bytes.Index(head, []byte(key+"null"))
	if at < 0 {
		return errors.New("status: no forwards key in the JSON") // a renamed field: the test fails first
	}
	bw := bufio.NewWriter(w)
	bw.Write(head[:at+len(key)])
	bw.WriteString("[")
	var one bytes.Buffer
	enc := json.NewEncoder(&one)
	enc.SetIndent("    ", "  ")
	for i, f := range fwds {
		one.Reset()
		if err := enc.Encode(f); err != nil {
			return err
		}
		bw.WriteString("\n    ")
		bw.Write(bytes.TrimSuffix(one.Bytes(), []byte("\n")))
		if i < len(fwds)-1 {
			bw.WriteString(",")
		}
	}
	bw.WriteString("\n  ]")
	bw.Write(head[at+len(key)+len("null"):])
	bw.WriteString("\n")
	return bw.Flush()
}
