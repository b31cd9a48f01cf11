package nft

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	gnft "github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// withFamily is the guarded plan with the family list holding prefixes.
func withFamily(t *testing.T, prefixes ...string) *plan.Desired {
	t.Helper()
	d := guardedPlan(t, map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77")}}, &config.Limit{Count: 10, Unit: "minute", Burst: 20})
	d.AllowSets[1].Prefixes = nil
	for _, p := range prefixes {
		d.AllowSets[1].Prefixes = append(d.AllowSets[1].Prefixes, netip.MustParsePrefix(p))
	}
	return d
}

// The change in place leaves the table as a full apply of the new plan on an empty machine does, and refuses
// (changing nothing) when the set in place is not recorded as holding what the change starts from, or when
// anything was committed since the generation it read.
func TestSetAllowPrefixesFake(t *testing.T) {
	ctx := context.Background()
	from := withFamily(t, "192.0.2.0/25", "192.0.2.200/32", "203.0.113.0/24")
	to := withFamily(t, "0.0.0.0/24", "192.0.2.0/25", "203.0.112.7/32")
	b, fake := NewFake()
	if err := b.Apply(ctx, from); err != nil {
		t.Fatal(err)
	}
	// A length that comes or goes is a change of rules: refused, nothing changed.
	before := fake.Dump()
	if err := b.SetAllowPrefixes(ctx, plan.ChangedPrefixSets(from, withFamily(t, "0.0.0.0/8", "192.0.2.0/25", "203.0.112.0/24"))); err == nil || !strings.Contains(err.Error(), "prefix lengths") {
		t.Errorf("a change of the lengths a list holds: %v, want a refusal", err)
	}
	if got := fake.Dump(); got != before {
		t.Errorf("a refused change changed the table:\n%s", got)
	}
	if err := b.SetAllowPrefixes(ctx, plan.ChangedPrefixSets(from, to)); err != nil {
		t.Fatal(err)
	}
	fresh, freshFake := NewFake()
	if err := fresh.Apply(ctx, to); err != nil {
		t.Fatal(err)
	}
	if got, want := sortedLines(fake.Dump()), sortedLines(freshFake.Dump()); got != want {
		t.Errorf("after the change in place the table differs from a full apply:\n%s\nwant\n%s", got, want)
	}
	// The record now says "to": a change from "from" again is refused.
	if err := b.SetAllowPrefixes(ctx, plan.ChangedPrefixSets(from, to)); !errors.Is(err, errStaleRecord) {
		t.Errorf("a change from prefixes the set does not hold: %v, want errStaleRecord", err)
	}
	// A commit between the generation read and the batch: the fake, like the kernel, refuses the batch.
	k := b.k.(*fakeKernel)
	gen, _ := k.generation(ctx)
	k.bump()
	if err := k.editSets(ctx, gen, nil); err == nil {
		t.Error("a batch at a past generation was committed")
	}
	if got := sortedLines(fake.Dump()); got != sortedLines(freshFake.Dump()) {
		t.Errorf("a refused change changed the table:\n%s", got)
	}
}

// In the kernel: a change in place gives the sets, element for element, that a full apply of the new list
// gives (a /24 replaced by the /16 around it, 255.255.255.255/32 going and coming back), in one batch at the generation read; a batch at an older generation is
// refused and changes nothing; a resync after a hand edit of the set (Repair) puts back what the list says.
func TestSetAllowPrefixesInKernel(t *testing.T) {
	netnstest.NeedRoot(t, "changes sets in network namespaces")
	ctx := context.Background()
	steps := [][]string{
		{"192.0.2.0/25", "198.51.100.0/24", "203.0.113.0/24", "203.1.0.0/16", "255.255.255.255/32"},
		{"10.1.0.0/16", "192.0.2.128/25", "198.51.100.0/24", "203.0.113.7/32"},
		{"10.1.0.0/16", "192.0.2.128/25", "198.51.0.0/16", "203.0.114.0/24", "255.255.255.255/32"},
	}
	ns := testNS(t)
	list := func(ns string) string {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", Table).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list: %v %s", err, out)
		}
		return string(out)
	}
	var b *Backend
	if err := netns.Do(ns, func() (err error) { b, err = New(); return err }); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in := func(fn func() error) error { return netns.Do(ns, fn) }
	prev := withFamily(t, steps[0]...)
	if err := in(func() error { return b.Apply(ctx, prev) }); err != nil {
		t.Fatal(err)
	}
	for i, step := range steps[1:] {
		next := withFamily(t, step...)
		if err := in(func() error { return b.SetAllowPrefixes(ctx, plan.ChangedPrefixSets(prev, next)) }); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		fresh := testNS(t)
		if err := withBackend(fresh, func(fb *Backend) error { return fb.Apply(ctx, next) }); err != nil {
			t.Fatal(err)
		}
		if got, want := sortedLines(list(ns)), sortedLines(list(fresh)); got != want {
			t.Fatalf("step %d: after the change in place:\n%s\na full apply gives:\n%s", i+1, list(ns), list(fresh))
		}
		for _, bits := range prefixLengths(next.AllowSets[1].Prefixes) {
			name := lengthSet(prefixSetNames("set-family")[0], bits)
			if got, want := rawElements(t, ns, name), rawElements(t, fresh, name); got != want {
				t.Fatalf("step %d: the kernel's set %s holds\n%s\nafter the change in place, and\n%s\nafter a full apply", i+1, name, got, want)
			}
		}
		prev = next
	}

	// The benchmark's probe of one element sees what the last step added and not what it removed.
	if err := in(func() error {
		c, err := mdnetlink.Dial(unix.NETLINK_NETFILTER, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for p, want := range map[string]bool{"198.51.0.0/16": true, "255.255.255.255/32": true, "198.51.100.0/24": false, "203.0.113.7/32": false, "10.1.0.0/16": true} {
			pp := netip.MustParsePrefix(p)
			if got, err := SetHolds(c, lengthSet(prefixSetNames("set-family")[0], pp.Bits()), pp); err != nil || got != want {
				t.Errorf("SetHolds(%s) = %v, %v; want %v", p, got, err, want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Someone commits anything between the generation read and the batch: the kernel refuses it (ERESTART).
	before := list(ns)
	var gen uint32
	if err := in(func() (err error) { gen, err = b.k.generation(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	nftIn(t, ns, "add", "table", "ip", "someone_else")
	next := withFamily(t, "192.0.2.0/24")
	err := in(func() error {
		return b.k.editSets(ctx, gen, []setEdit{{id: "set-family", name: prefixSetNames("set-family")[0], to: next.AllowSets[1].Prefixes,
			added: next.AllowSets[1].Prefixes}})
	})
	if err == nil || !strings.Contains(err.Error(), "changed meanwhile") {
		t.Errorf("a batch at a past generation: %v, want a refusal", err)
	}
	if got := list(ns); got != before {
		t.Errorf("a refused batch changed the table:\n%s\nwas\n%s", got, before)
	}

	// A hand edit of the set: an apply trusts the set's record, a repair after the edit does not.
	nftIn(t, ns, "add", "element", "ip", Table, "allow_set-family_24", "{ 100.64.7.0 }")
	if err := in(func() error { return b.Apply(ctx, prev) }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list(ns), "100.64.7.0") {
		t.Fatal("the apply was meant to trust the record (the negative control of the repair)")
	}
	if err := in(func() error { return b.Repair(ctx, prev) }); err != nil {
		t.Fatal(err)
	}
	if got := list(ns); strings.Contains(got, "100.64.7.0") {
		t.Errorf("the repair left the hand-added element:\n%s", got)
	}
	// The repair loaded the list under its other name; at an unchanged generation the next repair trusts
	// the record and loads nothing, and keeps trusting it.
	for range 2 {
		if err := in(func() error { return b.Repair(ctx, prev) }); err != nil {
			t.Fatal(err)
		}
		if got := list(ns); !strings.Contains(got, "set allow_set-family_b_24 {") || strings.Contains(got, "set allow_set-family_24 {") {
			t.Fatalf("a repair of an unchanged ruleset loaded the list again:\n%s", got)
		}
	}
}

// sortedLines is text with its lines sorted: listings that differ only in the order of their objects (the
// kernel lists counters by creation, the fake elements by insertion) compare equal.
func sortedLines(text string) string {
	lines := strings.Split(text, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// rawElements lists the elements of set name in ns as the kernel holds them (key and interval-end flag),
// sorted.
func rawElements(t *testing.T, ns, name string) string {
	t.Helper()
	var out []string
	err := netns.Do(ns, func() error {
		c, err := gnft.New()
		if err != nil {
			return err
		}
		elems, err := c.GetSetElements(&gnft.Set{Table: &gnft.Table{Family: gnft.TableFamilyIPv4, Name: Table}, Name: name, KeyType: gnft.TypeIPAddr})
		for _, e := range elems {
			a, _ := netip.AddrFromSlice(e.Key)
			out = append(out, fmt.Sprintf("%s end=%v", a, e.IntervalEnd))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// The resync's repair loads the lists again only when something other than hairpin changed the ruleset since
// it last knew them right: hairpin's own fast paths (WAN set, host sets) carry that knowledge through, a
// foreign commit does not.
func TestRepairTrustsOnlyItsOwnChanges(t *testing.T) {
	ctx := context.Background()
	b, fake := NewFake()
	d := withFamily(t, "192.0.2.0/25", "203.0.113.0/24")
	sets := func() string {
		t.Helper()
		names, err := fake.List(ctx, "set")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, "allow_set-family") {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	if err := b.Repair(ctx, d); err != nil {
		t.Fatal(err)
	}
	first := sets()
	if err := b.SetWANAddrs(ctx, []netip.Addr{netip.MustParseAddr("203.0.113.9")}); err != nil {
		t.Fatal(err)
	}
	moved := withFamily(t, "192.0.2.0/25", "203.0.113.0/24")
	moved.AllowSets[0].HostAddrs = []netip.Addr{netip.MustParseAddr("198.51.100.99")}
	if err := b.SetAllowHosts(ctx, plan.ChangedHostSets(d, moved)); err != nil {
		t.Fatal(err)
	}
	if err := b.Repair(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got := sets(); got != first {
		t.Errorf("after hairpin's own fast paths the repair loaded the list again: %s, was %s", got, first)
	}
	b.k.(*fakeKernel).bump() // someone else commits
	if err := b.Repair(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got := sets(); got == first {
		t.Errorf("after a foreign commit the repair trusted the record: %s", got)
	}
}

// A list's summary is its record's digest (the first 8 bytes of a SHA-256 of each prefix's address and length)
// and its lengths; the memo answers only for the very slice it was made from: a list of the same length but
// other content, or a shorter view of the same array, is read again.
func TestSummaryMemo(t *testing.T) {
	b, _ := NewFake()
	list := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("203.0.113.0/25")}
	other := slices.Clone(list)
	other[1] = netip.MustParsePrefix("198.51.100.8/32")
	summaryOf := func(prefixes []netip.Prefix) listSummary {
		var raw []byte
		for _, p := range prefixes {
			raw = append(raw, p.Addr().AsSlice()...)
			raw = append(raw, byte(p.Bits()))
		}
		sum := sha256.Sum256(raw)
		return listSummary{digest: binary.BigEndian.Uint64(sum[:8]), lengths: prefixLengths(prefixes)}
	}
	for _, tc := range []struct {
		name     string
		prefixes []netip.Prefix
	}{
		{"first read", list},
		{"same slice again", list},
		{"same length, another slice", other},
		{"shorter view of the same array", list[:2]},
		{"the first slice after the others", list},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := b.summary("family", tc.prefixes), summaryOf(tc.prefixes); got.digest != want.digest || !slices.Equal(got.lengths, want.lengths) {
				t.Errorf("summary = %x %v, want %x %v", got.digest, got.lengths, want.digest, want.lengths)
			}
		})
	}
	// The memo is what answers for the same slice (a planted summary comes back).
	b.summary("family", list)
	b.mu.Lock()
	b.summaries = []summaryMemo{{id: "family", prefixes: list, summary: listSummary{digest: 1}}}
	b.mu.Unlock()
	if got := b.summary("family", list).digest; got != 1 {
		t.Errorf("the same slice was read again (digest %x), not taken from the memo", got)
	}
	// A full apply starts it afresh with the lists it applied, a repair that loads every list too.
	reloadAll := func(ctx context.Context, d *plan.Desired) error {
		b.noteGeneration(0) // the sets are not known: every list is loaded again
		return b.Repair(ctx, d)
	}
	for _, apply := range []func(context.Context, *plan.Desired) error{b.Apply, reloadAll} {
		d := withFamily(t, "192.0.2.0/24")
		if err := apply(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		b.mu.Lock()
		memo := slices.Clone(b.summaries)
		b.mu.Unlock()
		var want []string
		for _, s := range d.AllowSets {
			if len(s.Prefixes) > 0 {
				want = append(want, s.ID)
			}
		}
		var got []string
		for _, m := range memo {
			got = append(got, m.id)
			for _, s := range d.AllowSets {
				if s.ID == m.id && &s.Prefixes[0] != &m.prefixes[0] {
					t.Errorf("the memo of %s is not the applied slice", m.id)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("after a full apply the memo holds lists %v, want the applied %v", got, want)
		}
	}
}
