package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hairpin-nat/hairpin/internal/allowdns"
	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// harnessLookup resolves allow lists' hostnames in the harness; nil answers nothing.
var harnessLookup allowdns.LookupFunc = func(context.Context, string) ([]netip.Addr, time.Duration, error) {
	return nil, 0, errors.New("no DNS in this test")
}

// dnsTable is a DNS server a test edits: a name's answer changes at once, with a TTL of the minimum.
type dnsTable struct {
	mu sync.Mutex
	a  map[string][]netip.Addr
}

func (d *dnsTable) set(host string, addrs ...netip.Addr) {
	d.mu.Lock()
	d.a[host] = addrs
	d.mu.Unlock()
}

func (d *dnsTable) lookup(_ context.Context, host string) ([]netip.Addr, time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.a[host]; ok {
		return a, 0, nil
	}
	return nil, 0, errors.New("NXDOMAIN")
}

const allowConfig = `wan: {interface: wan0}
lan: {interface: lan0}
allow_sets:
  family: [phone.example.net, 198.51.100.0/24]
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80", allow: [family], limit: {new_per_source: 10/minute}}
  - {name: open-cam, port: 8091, to: "192.168.88.181:80"}
`

// A hostname's new address reaches the datapath by updating its host set alone, both in the recording fake
// and down to the nft backend's kernel seam; the first apply already holds the address resolved at start.
func TestAllowedHostnameMovesUpdatesOnlyItsSet(t *testing.T) {
	phone1, phone2 := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("192.0.2.8")
	dns := &dnsTable{a: map[string][]netip.Addr{"phone.example.net": {phone1}}}
	defer func(l allowdns.LookupFunc) { harnessLookup = l }(harnessLookup)
	harnessLookup = dns.lookup
	first := plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}

	// In a synctest bubble the minimum TTL passes in fake time, without waiting seconds.
	t.Run("recording fake", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			dns.set("phone.example.net", phone1)
			h := start(t, allowConfig, first)
			calls := h.be.Calls()
			if len(calls) != 1 || calls[0].Method != "Apply" || len(calls[0].Plan.AllowSets) != 1 ||
				!slices.Equal(calls[0].Plan.AllowSets[0].HostAddrs, []netip.Addr{phone1}) {
				t.Fatalf("the first apply must hold the address resolved at start: %+v", calls)
			}
			dns.set("phone.example.net", phone2)
			poll.Wait(t, "SetAllowHosts after the TTL", func() bool { return len(h.be.Calls()) >= 2 })
			c := h.be.Calls()[1]
			if c.Method != "SetAllowHosts" || len(c.Sets) != 1 || !slices.Equal(c.Sets[0].HostAddrs, []netip.Addr{phone2}) {
				t.Errorf("second call = %s %+v, want SetAllowHosts with %s", c.Method, c.Sets, phone2)
			}
			st := h.d.Status(context.Background())
			if len(st.AllowedHosts) != 1 || st.AllowedHosts[0].Host != "phone.example.net" {
				t.Errorf("status must list the allowed hostname: %+v", st.AllowedHosts)
			}
			for _, f := range st.Forwards {
				if f.Name == "front-cam" && (!slices.Equal(f.Allow, []string{"set-family"}) || f.Limit != "10/minute burst 10") {
					t.Errorf("front-cam status: %+v", f)
				}
				if f.Name == "open-cam" && (f.Allow != nil || f.Limit != "") {
					t.Errorf("open-cam must show open: %+v", f)
				}
			}
		})
	})

	t.Run("nft backend", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			dns.set("phone.example.net", phone1)
			be, fake := newFakeNft()
			startWith(t, allowConfig, first, netip.Addr{}, be)
			hostSet := func() []string {
				elems, _ := fake.ListElements(context.Background(), "set", "allowhosts_set-family")
				var out []string
				for _, e := range elems {
					out = append(out, e.Key...)
				}
				return out
			}
			if got := hostSet(); !slices.Equal(got, []string{phone1.String()}) {
				t.Fatalf("host set after start = %v", got)
			}
			dns.set("phone.example.net", phone2)
			poll.Wait(t, "the host set follows the name", func() bool { return slices.Equal(hostSet(), []string{phone2.String()}) })
		})
	})
}

// A prefix file is read again on reload (SIGHUP): the new list is installed and the old one's sets go.
func TestReloadRereadsAllowFile(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "office.txt")
	if err := os.WriteFile(list, []byte("198.51.100.0/24\n192.0.2.128/25\n203.0.113.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "hairpin.yaml")
	text := "wan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: front-cam, port: 8090, to: \"192.168.88.180:80\", allow: [" + list + "]}\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	be, fake := newFakeNft()
	h := startWith(t, text, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be)
	h.reload = func(prev *config.Config) (*config.Config, error) { return config.Reload(cfgPath, prev) }
	allowed := func() []string {
		sets, _ := fake.List(context.Background(), "set")
		var out []string
		for _, s := range sets {
			// One set per prefix length: allow_fwd-front-cam_24 holds the /24s' addresses.
			i := strings.LastIndexByte(s, '_')
			if !strings.HasPrefix(s, "allow_fwd-front-cam") || i < 0 {
				continue
			}
			elems, _ := fake.ListElements(context.Background(), "set", s)
			for _, e := range elems {
				for _, k := range e.Key {
					out = append(out, k+"/"+s[i+1:])
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if got := allowed(); !slices.Equal(got, []string{"192.0.2.128/25", "198.51.100.0/24", "203.0.113.9/32"}) {
		t.Fatalf("allowed after start: %v", got)
	}
	if err := os.WriteFile(list, []byte("192.0.2.0/25\n203.0.113.7\n198.51.101.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := allowed(); !slices.Equal(got, []string{"192.0.2.0/25", "198.51.101.0/24", "203.0.113.7/32"}) {
		t.Errorf("allowed after reload: %v, want the file's new prefixes only", got)
	}
	if said(h.d, "allow list updated in place") != 1 {
		t.Errorf("a reload that changes only a list's prefixes must change its set in place: %+v", h.d.Status(context.Background()).Events)
	}
	// A bad line where the file changed (read alone, config.Reload) is refused at its line, and the sets stay.
	if err := os.WriteFile(list, []byte("192.0.2.0/25\n203.0.113.7/24\n198.51.101.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), list+":2") || !strings.Contains(err.Error(), "write 203.0.113.0/24") {
		t.Errorf("a bad line in a reloaded list: %v, want it refused at %s:2 with the fix", err, list)
	}
	if got := allowed(); !slices.Equal(got, []string{"192.0.2.0/25", "198.51.101.0/24", "203.0.113.7/32"}) {
		t.Errorf("allowed after a refused reload: %v, want the list as it was", got)
	}
	if err := os.WriteFile(list, []byte("192.0.2.0/25\n203.0.113.7\n198.51.101.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A prefix length new to the list is a new rule: a full apply, planned, with no warning.
	if err := os.WriteFile(list, []byte("10.0.0.0/8\n192.0.2.0/25\n203.0.113.7\n198.51.101.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := allowed(); !slices.Equal(got, []string{"10.0.0.0/8", "192.0.2.0/25", "198.51.101.0/24", "203.0.113.7/32"}) {
		t.Errorf("allowed after a new prefix length: %v", got)
	}
	if said(h.d, "allow list updated in place") != 1 || said(h.d, "allow list update in place failed") != 0 {
		t.Errorf("a new prefix length must be a full apply without a warning: %+v", h.d.Status(context.Background()).Events)
	}
}

// A reload sends only what changed: nothing when the plan is the running one, the changed prefixes of an
// allow list when only they changed, and a full apply for anything else.
func TestReloadSendsOnlyTheDifference(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "office.txt")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(list, "198.51.100.0/24\n192.0.2.0/25\n")
	cfgPath := filepath.Join(dir, "hairpin.yaml")
	text := "wan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: front-cam, port: 8090, to: \"192.168.88.180:80\", allow: [" + list + "]}\n"
	write(cfgPath, text)
	h := start(t, text, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	h.reload = func(prev *config.Config) (*config.Config, error) { return config.Reload(cfgPath, prev) }
	reload := func() []backend.Call {
		t.Helper()
		before := len(h.be.Calls())
		if err := h.d.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		return h.be.Calls()[before:]
	}
	if calls := reload(); len(calls) != 0 {
		t.Errorf("a reload of the same config sent %+v, want nothing", calls)
	}
	write(list, "198.51.100.0/24\n203.0.113.7\n")
	calls := reload()
	if len(calls) != 1 || calls[0].Method != "SetAllowPrefixes" || len(calls[0].Prefixes) != 1 {
		t.Fatalf("a reload that changes one list's prefixes sent %+v, want one SetAllowPrefixes", calls)
	}
	removed, added := plan.DiffPrefixes(calls[0].Prefixes[0].From, calls[0].Prefixes[0].To)
	if fmt.Sprint(removed, added) != "[192.0.2.0/25] [203.0.113.7/32]" {
		t.Errorf("the change removes %v and adds %v", removed, added)
	}
	// The in-place change failing (a table changed under the daemon) falls back on the full apply.
	write(list, "198.51.100.0/24\n")
	h.be.Fail(errors.New("the ruleset changed meanwhile"))
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.be.Fail(nil)
	if got := h.be.Calls(); got[len(got)-2].Method != "SetAllowPrefixes" || got[len(got)-1].Method != "Apply" {
		t.Errorf("a failed change in place must be followed by a full apply: %+v", got[len(got)-2:])
	}
	// A second forward is a change of rules: a full apply.
	write(cfgPath, text+"  - {name: back-cam, port: 8091, to: \"192.168.88.181:80\"}\n")
	if calls := reload(); len(calls) != 1 || calls[0].Method != "Apply" {
		t.Errorf("a reload that adds a forward sent %+v, want one Apply", calls)
	}
}

// A name that answers a thousand new addresses at every lookup, with a TTL of 0: the log and the status say
// how many changed, not which, and the status lists the addresses allowed (allowdns.MaxAddrs), not all of
// them. Before, every lookup logged every address (about 500 MB a day) and status grew to 200 KB.
func TestFlippingHostnameStaysSmall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		round := 0
		lookup := func(context.Context, string) ([]netip.Addr, time.Duration, error) {
			mu.Lock()
			defer mu.Unlock()
			round++
			out := make([]netip.Addr, 1000)
			for i := range out {
				out[i] = netip.AddrFrom4([4]byte{byte(1 + round%200), byte(i >> 8), byte(i), 1})
			}
			return out, 0, nil
		}
		var logBuf syncBuffer
		first := plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}
		h := startWithDeps(t, allowConfig, first, netip.Addr{}, &backend.Fake{}, func(d *Deps) {
			d.Lookup = lookup
			d.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
		})
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		rounds := round
		mu.Unlock()
		st := h.d.Status(context.Background())
		if len(st.AllowedHosts) != 1 || len(st.AllowedHosts[0].Addrs) != allowdns.MaxAddrs || st.AllowedHosts[0].Dropped != 1000-allowdns.MaxAddrs {
			t.Errorf("status of the name: %+v", st.AllowedHosts)
		}
		js, _ := json.Marshal(st)
		if len(js) > 16<<10 {
			t.Errorf("status is %d bytes after %d lookups", len(js), rounds)
		}
		updates := strings.Count(logBuf.String(), "allowed host addresses updated")
		if rounds < 20 || updates < rounds/2 {
			t.Fatalf("%d lookups, %d updates logged: the name must have moved", rounds, updates)
		}
		if perUpdate := logBuf.Len() / updates; perUpdate > 250 {
			t.Errorf("%d bytes of log per update:\n%.600s", perUpdate, logBuf.String())
		}
		if !strings.Contains(logBuf.String(), "change=\"+32 -32\"") {
			t.Errorf("the log does not count the change:\n%.600s", logBuf.String())
		}
	})
}

// syncBuffer is a log destination the daemon's goroutines write to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// said counts the daemon's recent events that start with text.
func said(d *Daemon, text string) int {
	n := 0
	for _, e := range d.Status(context.Background()).Events {
		if strings.HasPrefix(e.Message, text) {
			n++
		}
	}
	return n
}

// reloads counts the reloads the daemon accepted.
func reloads(d *Daemon) int { return said(d, "config reloaded") }
