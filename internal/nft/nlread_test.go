package nft

import "testing"

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
