package nftfake

import (
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/nft/script"
)

// The script model writes every object and verb hairpin uses exactly as knftables writes the same object:
// compile's grammar and the goldens were made from knftables' text.
func TestScriptTextIsKnftables(t *testing.T) {
	comment, size, timeout := "managed by \"hairpin\"", uint64(65535), 90*time.Second
	packets, bytes := uint64(7), uint64(9)
	typ, hook, accept := script.NATType, script.PreroutingHook, script.AcceptPolicy
	ftyp, fhook := script.FilterType, script.ForwardHook
	prios := []script.BaseChainPriority{script.DNATPriority, script.SNATPriority, "filter - 5", "dstnat - 10", "-150", "raw"}
	objs := []script.Object{
		&script.Table{}, &script.Table{Comment: &comment},
		&script.Chain{Name: "plain"},
		&script.Set{Name: "s", Type: "ipv4_addr"},
		&script.Set{Name: "c", Type: "inet_service ; counter", Flags: []script.SetFlag{script.DynamicFlag}, Size: &size},
		&script.Set{Name: "m", Type: "ipv4_addr", Flags: []script.SetFlag{script.DynamicFlag, script.TimeoutFlag}, Size: &size, Timeout: &timeout},
		&script.Set{Name: "n", Type: "ipv4_addr", Flags: []script.SetFlag{script.IntervalFlag}},
		&script.Map{Name: "fwd", Type: "inet_proto . inet_service : ipv4_addr . inet_service"},
		&script.Element{Set: "s", Key: []string{"192.0.2.1"}},
		&script.Element{Map: "fwd", Key: []string{"tcp", "8090"}, Value: []string{"jump guard_x"}},
		&script.Rule{Chain: "plain", Rule: `counter name "x" drop`},
		&script.Counter{Name: "k"},
		&script.Counter{Name: "k", Packets: &packets, Bytes: &bytes, Comment: &comment},
	}
	for _, p := range prios {
		objs = append(objs, &script.Chain{Name: "b", Type: &typ, Hook: &hook, Priority: &p, Policy: &accept})
		objs = append(objs, &script.Chain{Name: "f", Type: &ftyp, Hook: &fhook, Priority: &p})
	}
	for _, fam := range []script.Family{script.IPv4Family, script.IPv6Family} {
		ours := script.NewTransaction(fam, "hairpin")
		theirs := knftables.NewFake(knftables.Family(fam), "hairpin").NewTransaction()
		for _, o := range objs {
			ours.Add(o)
			theirs.Add(convert(o))
			switch o.(type) {
			case *script.Rule:
			default:
				ours.Delete(o)
				theirs.Delete(convert(o))
			}
			switch o.(type) {
			case *script.Chain, *script.Set, *script.Map:
				ours.Flush(o)
				theirs.Flush(convert(o))
			}
		}
		if got, want := ours.String(), theirs.String(); got != want {
			t.Errorf("%s: script text differs from knftables'\n got:\n%s\nwant:\n%s", fam, got, want)
		}
		if ours.NumOperations() != theirs.NumOperations() {
			t.Errorf("%s: %d operations, knftables %d", fam, ours.NumOperations(), theirs.NumOperations())
		}
	}
}
