package nft

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/backend"
)

// ruleAttrs is the attributes of a rule of text as compile writes it (what the kernel hands back, but for the
// handle and position).
func ruleAttrs(t testing.TB, text string) []byte {
	t.Helper()
	exprs, err := compileRule(ipv4, text)
	if err != nil {
		t.Fatal(err)
	}
	b := &batch{fam: ipv4}
	b.addRule("forward", &exprs.attrs)
	return b.msgs[0].Data[4:]
}

// The rule decoder reads back what compile encodes, and the forward-chain check finds an accepted DNAT in it
// and only there.
func TestDecodeRule(t *testing.T) {
	for _, tc := range []struct {
		text   string
		accept bool
	}{
		{"ct status dnat accept", true},
		{"ct state new ct status dnat accept", true},
		{"ct status dnat drop", false},
		{"ct mark and 0x20 != 0 accept", false},
	} {
		rule := decodeRule(ruleAttrs(t, tc.text))
		accept := false
		for _, e := range rule {
			accept = accept || (e.name == "immediate" && e.verdict == nfAccept)
		}
		if got := accept && matchesDNAT(rule); got != tc.accept {
			t.Errorf("%q: accepts DNAT = %v, want %v (%+v)", tc.text, got, tc.accept, rule)
		}
	}
	rule := decodeRule(ruleAttrs(t, "ip daddr @wan_addrs jump dnat_forwards"))
	if last := rule[len(rule)-1]; last.chain != "dnat_forwards" || last.verdict != -3 {
		t.Errorf("jump decoded as %+v", last)
	}
}

// The kernel's answers are read by hand: nothing in them makes the decoder panic or read past its input.
func FuzzDecodeRule(f *testing.F) {
	f.Add(ruleAttrs(f, "ct status dnat accept"))
	f.Add(ruleAttrs(f, "iifname != \"wan0\" ip saddr @lan_nets return"))
	f.Add(ruleAttrs(f, "update @meter_x { ip saddr limit rate over 10/minute burst 20 packets } counter name \"d\" drop"))
	f.Fuzz(func(t *testing.T, b []byte) {
		matchesDNAT(decodeRule(b))
		_ = attrString(b, 1)
		_ = attrU32(b, 2, -1)
	})
}

// countElemAttrs is a GETSETELEM answer of a counting set as the kernel writes it: port 8090 with its counter as
// the element's one expression, and port 53 with a counter in a list of expressions (a set declaring several).
func countElemAttrs() []byte {
	counter := func(a *attrs, typ uint16, packets, bytes uint64) {
		n := a.nest(typ)
		a.str(unix.NFTA_EXPR_NAME, "counter")
		d := a.nest(unix.NFTA_EXPR_DATA)
		a.u64(unix.NFTA_COUNTER_BYTES, bytes)
		a.u64(unix.NFTA_COUNTER_PACKETS, packets)
		a.end(d)
		a.end(n)
	}
	a := &attrs{}
	a.str(unix.NFTA_SET_ELEM_LIST_TABLE, Table)
	list := a.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
	e := a.nest(unix.NFTA_LIST_ELEM)
	a.data(unix.NFTA_SET_ELEM_KEY, []byte{0x1f, 0x9a, 0, 0})
	counter(a, unix.NFTA_SET_ELEM_EXPR, 5, 300)
	a.end(e)
	e = a.nest(unix.NFTA_LIST_ELEM)
	a.data(unix.NFTA_SET_ELEM_KEY, []byte{0, 53, 0, 0})
	exprs := a.nest(nftaSetElemExpressions)
	counter(a, unix.NFTA_LIST_ELEM, 3, 4)
	a.end(exprs)
	a.end(e)
	a.end(list)
	return a.b
}

// Both shapes of an element's counter decode (the kernel's own single-expression shape is also held to nft in
// TestCountersNetlinkMatchNft).
func TestCountElems(t *testing.T) {
	out := map[uint16]backend.Counter{}
	countElems(countElemAttrs(), out)
	want := map[uint16]backend.Counter{8090: {Packets: 5, Bytes: 300}, 53: {Packets: 3, Bytes: 4}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("countElems = %v, want %v", out, want)
	}
}

// Nothing in a counting set's answer makes the decoder panic or read past its input.
func FuzzCountElems(f *testing.F) {
	f.Add(countElemAttrs())
	f.Fuzz(func(t *testing.T, b []byte) {
		countElems(b, map[uint16]backend.Counter{})
	})
}
