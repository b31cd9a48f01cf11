package nft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/nft/script"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Names of the guard objects: who may reach a forward from the internet. Every one of them starts with a
// prefix below, so an apply can find and delete those a new plan no longer needs.
const (
	chainGuard     = "guard"         // base chain: filter prerouting, before DNAT
	mapGuardPorts  = "guard_ports"   // protocol . port : jump guard_FORWARD
	chainGuardBase = "guard_"        // + forward: the allowlist
	chainLimitBase = "limit_"        // + forward: the connection limit
	setAllowBase   = "allow_"        // + set ID + _LEN: static prefixes of one length (hash set)
	setHostsBase   = "allowhosts_"   // + set ID: current addresses of the set's hostnames
	setMeterBase   = "meter_"        // + forward + limit: one bucket per source
	counterAllow   = "drop_allow_"   // + forward
	counterLimit   = "drop_limit_"   // + forward
	guardPriority  = "dstnat - 10"   // before the DNAT in prerouting, so a dropped packet never reaches the camera
	meterSize      = uint64(65535)   // sources tracked per forward; beyond that, new sources are not limited
	minMeterExpiry = 1 * time.Minute // a source's bucket lives at least this long after its last new connection
)

var guardPrefixes = []string{chainGuard, chainGuardBase, chainLimitBase, setAllowBase, setHostsBase, setMeterBase, counterAllow, counterLimit}

// buildGuards adds the allowlists and limits of d. The base chain runs only for new connections to a
// forwarded port of a WAN address that do not come in on the LAN interface: the LAN (hairpin) and the router itself
// (whose own connections never pass prerouting) always reach the forward. Which forward a packet is for is one
// verdict-map lookup on protocol and port, and whether its source is allowed one lookup per set, so the cost
// does not grow with the number of forwards or prefixes.
func buildGuards(tx *script.Transaction, d *plan.Desired, sets map[string]prefixSet) {
	if len(d.Guards) == 0 {
		// Nothing to check: no chain at all, so that unguarded forwards cost nothing per packet.
		return
	}
	for _, s := range d.AllowSets {
		if len(s.Prefixes) > 0 && sets == nil {
			// `hairpin show`: the set with its prefixes, and its record, as on an empty machine.
			declarePrefixSet(tx, s)
		} else if ps, ok := sets[s.ID]; len(s.Prefixes) > 0 && ok && ps.loaded {
			recordCounters(tx, ps.name, s.ID, s.Prefixes)
		}
		if len(s.Hosts) > 0 {
			replaceSet(tx, &script.Set{Name: setHostsBase + s.ID, Type: "ipv4_addr"}, hostKeys(s))
		}
	}
	byID := map[string]plan.AllowSet{}
	for _, s := range d.AllowSets {
		byID[s.ID] = s
	}

	vmap := &script.Map{Name: mapGuardPorts, Type: "inet_proto . inet_service : verdict"}
	tx.Add(vmap)
	tx.Flush(vmap)
	for _, g := range d.Guards {
		// The jump targets must exist before the map elements that name them.
		first := guardChains(tx, g, byID, sets)
		for _, r := range d.Rules {
			if r.Name != g.Forward {
				continue
			}
			for p := int(r.Port.First); p <= int(r.Port.Last); p++ {
				tx.Add(&script.Element{Map: mapGuardPorts, Key: []string{r.Protocol, strconv.Itoa(p)}, Value: []string{"jump " + first}})
			}
		}
	}

	base := baseChain(chainGuard, script.FilterType, script.PreroutingHook, guardPriority)
	tx.Add(base)
	tx.Flush(base)
	// The LAN is what enters on the LAN interface. A LAN address arriving on any other interface (the WAN, a
	// guest network, a VPN) is spoofed where rp_filter is loose or off, and is checked like any internet
	// source. Only when the LAN is given by subnets alone is there no interface to go by: then a LAN source
	// on anything but the WAN counts as LAN, and config warns of it.
	var rules []string
	if d.LANInterface != "" {
		rules = append(rules, fmt.Sprintf("iifname %q return", d.LANInterface))
	} else {
		rules = append(rules, fmt.Sprintf("iifname != %q ip saddr @%s return", d.WANInterface, setLAN))
	}
	rules = append(rules, fmt.Sprintf("ct state new ip daddr @%s meta l4proto . th dport vmap @%s", setWAN, mapGuardPorts))
	for _, r := range rules {
		tx.Add(&script.Rule{Chain: chainGuard, Rule: r})
	}
}

// declarePrefixSet declares an allow list's sets with their prefixes, and its record, under the list's first
// name: what `hairpin show` prints. Apply loads the sets over netlink instead (preloadPrefixSets).
func declarePrefixSet(tx *script.Transaction, s plan.AllowSet) {
	name := prefixSetNames(s.ID)[0]
	for _, bits := range prefixLengths(s.Prefixes) {
		tx.Add(&script.Set{Name: lengthSet(name, bits), Type: "ipv4_addr"})
	}
	for _, p := range s.Prefixes {
		tx.Add(&script.Element{Set: lengthSet(name, p.Bits()), Key: []string{p.Masked().Addr().String()}})
	}
	tx.Add(recordCounter(name, s.ID, s.Prefixes))
}

// guardChains adds the chains of one guard and returns the one the verdict map jumps to.
func guardChains(tx *script.Transaction, g plan.Guard, byID map[string]plan.AllowSet, sets map[string]prefixSet) string {
	pass := "accept"
	if g.Limit != nil {
		limit := chainLimitBase + g.Forward
		meter := meterName(g)
		expiry := max(time.Duration(g.Limit.Burst)*g.Limit.Period()/time.Duration(g.Limit.Count), minMeterExpiry)
		size := meterSize
		// A bucket must outlive its refill time, or a source that pauses would find a fresh burst early. The
		// set is never flushed, so buckets survive a re-apply; a changed limit gets a set of its own name.
		tx.Add(&script.Set{Name: meter, Type: "ipv4_addr", Flags: []script.SetFlag{script.DynamicFlag, script.TimeoutFlag},
			Size: &size, Timeout: &expiry})
		tx.Add(&script.Counter{Name: counterLimit + g.Forward})
		c := &script.Chain{Name: limit}
		tx.Add(c)
		tx.Flush(c)
		tx.Add(&script.Rule{Chain: limit, Rule: fmt.Sprintf("update @%s { ip saddr limit rate over %d/%s burst %d packets } counter name %q drop",
			meter, g.Limit.Count, g.Limit.Unit, g.Limit.Burst, counterLimit+g.Forward)})
		if !g.Allow {
			return limit
		}
		pass = "goto " + limit
	}
	name := chainGuardBase + g.Forward
	c := &script.Chain{Name: name}
	tx.Add(c)
	tx.Flush(c)
	tx.Add(&script.Counter{Name: counterAllow + g.Forward})
	for _, id := range g.Sets {
		s := byID[id]
		if len(s.Prefixes) > 0 {
			set := prefixSetNames(id)[0]
			if ps, ok := sets[id]; ok {
				set = ps.name
			}
			for _, bits := range prefixLengths(s.Prefixes) {
				tx.Add(&script.Rule{Chain: name, Rule: lengthMatch(set, bits) + " " + pass})
			}
		}
		if len(s.Hosts) > 0 {
			tx.Add(&script.Rule{Chain: name, Rule: fmt.Sprintf("ip saddr @%s%s %s", setHostsBase, id, pass)})
		}
	}
	tx.Add(&script.Rule{Chain: name, Rule: fmt.Sprintf("counter name %q drop", counterAllow+g.Forward)})
	return name
}

func meterName(g plan.Guard) string {
	return fmt.Sprintf("%s%s_%d_%c_%d", setMeterBase, g.Forward, g.Limit.Count, g.Limit.Unit[0], g.Limit.Burst)
}

func hostKeys(s plan.AllowSet) []string {
	out := make([]string, len(s.HostAddrs))
	for i, a := range s.HostAddrs {
		out[i] = a.String()
	}
	return out
}

// Objects lists hairpin's table by kind: "chain", "set" (maps included) and "counter".
type Objects map[string][]string

// deleteUnwanted deletes every object of have that d does not use, after Build has emptied every chain and the
// verdict map that could refer to them: guard objects d no longer needs, and anything someone else put into
// hairpin's table (a foreign base chain there once kept DNATing a port through every resync).
func deleteUnwanted(tx *script.Transaction, have Objects, d *plan.Desired, sets map[string]prefixSet) {
	want := map[string]bool{chainGuard: len(d.Guards) > 0, mapGuardPorts: len(d.Guards) > 0}
	records := map[string]bool{}
	for _, s := range d.AllowSets {
		// The sets in use and their record, a counter of the list's name: a set of that name (an interval set
		// of an older hairpin) goes, as do the list's other sets.
		if len(s.Prefixes) > 0 {
			records[sets[s.ID].name] = true
			for _, bits := range prefixLengths(s.Prefixes) {
				want[lengthSet(sets[s.ID].name, bits)] = true
			}
		}
		want[setHostsBase+s.ID] = len(s.Hosts) > 0
	}
	for _, g := range d.Guards {
		if g.Allow {
			want[chainGuardBase+g.Forward], want[counterAllow+g.Forward] = true, true
		}
		if g.Limit != nil {
			want[chainLimitBase+g.Forward], want[counterLimit+g.Forward], want[meterName(g)] = true, true, true
		}
	}
	stale := func(name string) bool { return !want[name] && !coreObjects[name] }
	// Emptying the chains drops every reference to the sets, the map and the counters; deleting the map drops
	// its jumps to the chains. Only then can each be deleted.
	for _, step := range []struct {
		kind string
		do   func(name string)
	}{
		{"chain", func(n string) { tx.Flush(&script.Chain{Name: n}) }},
		{"set", func(n string) { tx.Delete(&script.Set{Name: n}) }},
		{"chain", func(n string) { tx.Delete(&script.Chain{Name: n}) }},
		{"counter", func(n string) { tx.Delete(&script.Counter{Name: n}) }},
	} {
		for _, n := range have[step.kind] {
			if stale(n) && (step.kind != "counter" || !records[n]) {
				step.do(n)
			}
		}
	}
}

// Drops are packets a guard dropped, by forward.
type Drops map[string]struct{ Allow, Limit uint64 }

func dropsFromCounters(counters map[string]uint64) Drops {
	out := Drops{}
	for name, v := range counters {
		if f, ok := strings.CutPrefix(name, counterAllow); ok {
			d := out[f]
			d.Allow = v
			out[f] = d
		} else if f, ok := strings.CutPrefix(name, counterLimit); ok {
			d := out[f]
			d.Limit = v
			out[f] = d
		}
	}
	return out
}

// objectsNetlink lists hairpin's chains (unless not chains), sets and named counters (with their packet
// counts) over netlink: no elements are read, so a table holding 100,000 allowed prefixes lists as fast as an
// empty one.
func objectsNetlink(conn *netlink.Conn, chains bool) (Objects, map[string]uint64, error) {
	objs := Objects{}
	if chains {
		list, err := listChains(conn, ipv4.af)
		if err != nil {
			return nil, nil, errfmt.Errorf("listing chains: %w", err)
		}
		for _, c := range list {
			if c.table == Table {
				objs["chain"] = append(objs["chain"], c.name)
				if c.policy == nfDrop {
					objs[policyDrop] = append(objs[policyDrop], c.name)
				}
			}
		}
	}
	sets, err := listSets(conn, ipv4)
	if isNotFound(err) {
		return objs, map[string]uint64{}, nil
	}
	if err != nil {
		return nil, nil, errfmt.Errorf("listing sets: %w", err)
	}
	objs["set"] = append(objs["set"], sets...)
	named, err := listObjects(conn, ipv4)
	if err != nil {
		return nil, nil, errfmt.Errorf("listing counters: %w", err)
	}
	counters := map[string]uint64{}
	for _, o := range named {
		if o.typ != unix.NFT_OBJECT_COUNTER {
			objs["object"] = append(objs["object"], o.name) // quotas, limits, ...: never hairpin's
			continue
		}
		objs["counter"] = append(objs["counter"], o.name)
		counters[o.name] = o.packets
	}
	for _, v := range objs {
		slices.Sort(v)
	}
	return objs, counters, nil
}

// SetAllowHosts implements backend.HostUpdater: it brings the host sets of the given allow sets to their new
// addresses in one netlink transaction and touches nothing else, so a hostname's new address is allowed
// without a re-apply (and without an nft run, which would read every interval set in the ruleset first).
func (b *Backend) SetAllowHosts(ctx context.Context, sets []plan.AllowSet) error {
	want := map[string][]netip.Addr{}
	for _, s := range sets {
		want[setHostsBase+s.ID] = s.HostAddrs
	}
	if err := b.carryGen(ctx, func() error { return b.k.setHosts(ctx, want) }); err != nil {
		return errfmt.Errorf("updating allowed host addresses (a full apply is needed): %w", err)
	}
	return nil
}

// setHostsNetlink brings each named set to its addresses, all sets in one transaction. A missing set fails
// the whole change.
func setHostsNetlink(conn *netlink.Conn, want map[string][]netip.Addr) error {
	b := &batch{fam: ipv4}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		current, err := setKeys(conn, ipv4, name)
		if err != nil {
			return errfmt.Errorf("set %s: %w", name, err)
		}
		add, del := wanDiff(ipv4, current, want[name])
		b.elems(unix.NFT_MSG_NEWSETELEM, name, add)
		b.elems(unix.NFT_MSG_DELSETELEM, name, del)
	}
	if len(b.msgs) == 0 {
		return nil
	}
	return sendBatch(conn, 0, b.msgs)
}

// isNotFound reports whether a netlink error says the table (or object) does not exist, whether the errno is
// wrapped or only formatted into the message.
func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, unix.ENOENT) || strings.HasSuffix(err.Error(), unix.ENOENT.Error()))
}
