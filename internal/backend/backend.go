// Package backend defines what a datapath (nftables on Linux, a MikroTik over its API) must do with a plan, and
// a Fake that records what it was asked so the daemon and CLI are tested without root or a router.
package backend

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Backend installs a plan. Every method is one atomic change: on error the previous state stays in force.
type Backend interface {
	// Apply replaces everything hairpin owns with d.
	Apply(ctx context.Context, d *plan.Desired) error
	// SetWANAddrs replaces only the set of addresses forwards answer on: the cheap path for address changes.
	SetWANAddrs(ctx context.Context, addrs []netip.Addr) error
	// Down removes everything hairpin created, and nothing else.
	Down(ctx context.Context) error
	// Counters returns traffic per forward name of d, the plan that is installed (nil: none).
	Counters(ctx context.Context, d *plan.Desired) (map[string]Counter, error)
}

// Counter is the traffic a forward carried, and the packets from the internet its guard dropped.
type Counter struct {
	Packets    uint64 `json:"packets"`
	Bytes      uint64 `json:"bytes"`
	AllowDrops uint64 `json:"dropped_allow"`
	LimitDrops uint64 `json:"dropped_limit"`
}

// TwoStepWAN is a backend whose SetWANAddrs is two commits, additions first (nftables). The daemon then
// makes them itself and records what it is installing between the two, where a crash would leave both the old
// and the new addresses forwarding, without putting the record in front of the new address.
type TwoStepWAN interface {
	// AddWANAddrs adds addrs to the addresses forwards answer on and removes nothing.
	AddWANAddrs(ctx context.Context, addrs []netip.Addr) error
	// RetireWANAddrs removes every address not in addrs and adds nothing.
	RetireWANAddrs(ctx context.Context, addrs []netip.Addr) error
}

// HostUpdater is a backend that holds the addresses of allow lists' hostnames itself and lets the daemon
// update them in place (nftables). A backend without it resolves the names on its own (RouterOS).
type HostUpdater interface {
	// SetAllowHosts replaces the host addresses of the given allow sets, and nothing else.
	SetAllowHosts(ctx context.Context, sets []plan.AllowSet) error
}

// PrefixUpdater is a backend that can change the prefixes of an allow list in place (nftables): the cheap path
// for a reload whose lists changed and nothing else. Without it such a reload is a full Apply.
type PrefixUpdater interface {
	// SetAllowPrefixes brings each changed list from its From prefixes, which must be what is installed, to
	// its To prefixes in one atomic change, and changes nothing else. It fails, changing nothing, when the
	// installed lists are not known to be the From ones, or with ErrRulesChange when the change is one of
	// rules (nftables: a prefix length comes or goes); the caller then applies fully.
	SetAllowPrefixes(ctx context.Context, changes []plan.PrefixChange) error
}

// ErrRulesChange says a change asked of a fast path is a change of rules, which only a full Apply makes.
var ErrRulesChange = errors.New("a change of rules")

// Repairer is a backend whose Apply trusts some of what it installed earlier (an allow list's set is not
// sent again while its record says it holds the list) and that can tell when that trust may be misplaced.
// Repair is Apply that also rewrites such content whenever something else may have changed it since.
type Repairer interface {
	Repair(ctx context.Context, d *plan.Desired) error
}

// IPv6Updater is a backend that can replace its IPv6 addresses, LAN prefixes and IPv6 DNAT targets in place
// (nftables): the cheap path for a prefix change. Without it every IPv6 change is a full Apply.
type IPv6Updater interface {
	// SetIPv6 makes the installed IPv6 side equal d (non-nil), changing nothing else.
	SetIPv6(ctx context.Context, d *plan.Desired6) error
}

// Call is one recorded call to a Fake.
type Call struct {
	Method string
	Plan   *plan.Desired
	Addrs  []netip.Addr
	Sets   []plan.AllowSet
	V6     *plan.Desired6
	// Prefixes are the lists SetAllowPrefixes was asked to change.
	Prefixes []plan.PrefixChange
}

// Fake records calls and keeps the state a real backend would have.
type Fake struct {
	mu    lock.Mutex
	calls []Call
	// State is what is installed; nil after Down.
	State *plan.Desired
	// Err, when set, fails every call without changing State.
	Err error
}

var (
	_ Backend       = (*Fake)(nil)
	_ HostUpdater   = (*Fake)(nil)
	_ IPv6Updater   = (*Fake)(nil)
	_ PrefixUpdater = (*Fake)(nil)
)

// SetIPv6 implements IPv6Updater.
func (f *Fake) SetIPv6(_ context.Context, d *plan.Desired6) error {
	cp := *d
	if err := f.record(Call{Method: "SetIPv6", V6: &cp}); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.State != nil {
		st := *f.State
		st.V6 = &cp
		f.State = &st
	}
	return nil
}

// SetAllowHosts implements HostUpdater.
func (f *Fake) SetAllowHosts(_ context.Context, sets []plan.AllowSet) error {
	if err := f.record(Call{Method: "SetAllowHosts", Sets: slices.Clone(sets)}); err != nil {
		return err
	}
	for _, s := range sets {
		f.editSet(s.ID, func(set *plan.AllowSet) { set.HostAddrs = slices.Clone(s.HostAddrs) })
	}
	return nil
}

// SetAllowPrefixes implements PrefixUpdater.
func (f *Fake) SetAllowPrefixes(_ context.Context, changes []plan.PrefixChange) error {
	if err := f.record(Call{Method: "SetAllowPrefixes", Prefixes: slices.Clone(changes)}); err != nil {
		return err
	}
	for _, c := range changes {
		f.editSet(c.ID, func(set *plan.AllowSet) { set.Prefixes = c.To })
	}
	return nil
}

// editSet changes the installed state's allow set id in a copy of the list, so plans handed out earlier keep
// what they held.
func (f *Fake) editSet(id string, edit func(*plan.AllowSet)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.State == nil {
		return
	}
	f.State.AllowSets = slices.Clone(f.State.AllowSets)
	for i := range f.State.AllowSets {
		if f.State.AllowSets[i].ID == id {
			edit(&f.State.AllowSets[i])
		}
	}
}

func (f *Fake) record(c Call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.Err
}

// Apply implements Backend.
func (f *Fake) Apply(_ context.Context, d *plan.Desired) error {
	cp := *d
	if err := f.record(Call{Method: "Apply", Plan: &cp}); err != nil {
		return err
	}
	f.mu.Lock()
	f.State = &cp
	f.mu.Unlock()
	return nil
}

// SetWANAddrs implements Backend.
func (f *Fake) SetWANAddrs(_ context.Context, addrs []netip.Addr) error {
	if err := f.record(Call{Method: "SetWANAddrs", Addrs: slices.Clone(addrs)}); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.State != nil {
		f.State.WANAddrs = slices.Clone(addrs)
	}
	return nil
}

// Down implements Backend.
func (f *Fake) Down(context.Context) error {
	if err := f.record(Call{Method: "Down"}); err != nil {
		return err
	}
	f.mu.Lock()
	f.State = nil
	f.mu.Unlock()
	return nil
}

// Counters implements Backend: every forward of d, with no traffic.
func (f *Fake) Counters(_ context.Context, d *plan.Desired) (map[string]Counter, error) {
	out := map[string]Counter{}
	if d != nil {
		for _, r := range d.Rules {
			out[r.Name] = Counter{}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return out, f.Err
}

// Fail makes every later call fail with err (nil: succeed again), safely while another goroutine calls.
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	f.Err = err
	f.mu.Unlock()
}

// Calls returns the recorded calls in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}
