package nft

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/nft/script"

	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/mdlayher/netlink"
)

// coreObjects are the chains, sets and maps every plan has; guard objects come and go with the plan.
var coreObjects = map[string]bool{
	chainPre: true, chainOut: true, chainPost: true, chainFwd: true, chainDNAT: true,
	setWAN: true, setLAN: true, mapDNAT: true, countSetBase + "tcp": true, countSetBase + "udp": true,
}

// baseChains are hairpin's chains attached to a hook.
var baseChains = []string{chainPre, chainOut, chainPost, chainFwd, chainGuard}

// policyDrop is the Objects key listing the table's chains whose policy is drop.
const policyDrop = "policy-drop"

// recreateBaseChains deletes the base chains of hairpin's that exist, so that Build adds them afresh in the
// same transaction.
func recreateBaseChains(tx *script.Transaction, have Objects) {
	for _, c := range baseChains {
		if slices.Contains(have["chain"], c) {
			tx.Flush(&script.Chain{Name: c})
			tx.Delete(&script.Chain{Name: c})
		}
	}
}

// foreignObjects lists what hairpin's table holds that no plan of hairpin's makes: objects of kinds hairpin never
// creates, and names that are neither core objects nor guard objects.
func foreignObjects(have Objects) []string {
	var out []string
	isOurs := func(name string) bool {
		if coreObjects[name] {
			return true
		}
		for _, p := range guardPrefixes {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	for _, kind := range []string{"chain", "set", "counter", "object"} {
		for _, name := range have[kind] {
			if kind == "object" || !isOurs(name) {
				out = append(out, kind+" "+name)
			}
		}
	}
	return out
}

// ownTableFinding checks hairpin's own table for what someone else changed in it: objects hairpin did not
// create and chains whose policy is drop. The next apply (or the daemon's resync) repairs both.
func (b *Backend) ownTableFinding(ctx context.Context) doctor.Finding {
	objs, _, err := b.k.objects(ctx)
	if err != nil {
		return doctor.Finding{Level: doctor.Warn, What: "cannot list the objects of table ip hairpin: " + err.Error()}
	}
	var problems []string
	if f := foreignObjects(objs); len(f) > 0 {
		problems = append(problems, "holds what hairpin did not create: "+strings.Join(f, ", "))
	}
	if extra := b.extraRules(ctx); len(extra) > 0 {
		problems = append(problems, "rules hairpin did not write in "+strings.Join(extra, ", "))
	}
	if len(objs[policyDrop]) > 0 {
		problems = append(problems, "chain "+strings.Join(objs[policyDrop], ", ")+" has policy drop (traffic through it is dropped)")
	}
	if len(problems) > 0 {
		return doctor.Finding{Level: doctor.Fail, What: fmt.Sprintf("table ip hairpin was edited: %s", strings.Join(problems, "; ")),
			Fix: "hairpin apply (or the daemon's next resync) removes them; put your own rules in a table of your own"}
	}
	return doctor.Finding{Level: doctor.OK, What: "table ip hairpin holds only hairpin's own chains, sets and counters"}
}

// coreChains hold a fixed number of rules for a given masquerade setting, whatever the forwards and addresses.
var coreChains = []string{chainPre, chainOut, chainPost, chainFwd, chainDNAT}

// extraRules names the core chains holding more rules than hairpin writes there (someone added theirs).
func (b *Backend) extraRules(ctx context.Context) []string {
	have, err := b.k.ruleCounts(ctx)
	if err != nil {
		return nil
	}
	// What an apply writes, with or without the hairpin masquerade (the lab's negative control).
	want := map[string]int{}
	for _, masq := range []bool{true, false} {
		for _, c := range coreChainRules(ipv4, &plan.Desired{Masquerade: masq}) {
			want[c.chain.Name] = max(want[c.chain.Name], len(c.rules))
		}
	}
	var out []string
	for _, c := range coreChains {
		if n, ok := have[c]; ok && n > want[c] {
			out = append(out, fmt.Sprintf("%s (%d rules, hairpin writes %d)", c, n, want[c]))
		}
	}
	return out
}

// ruleCounts counts the rules of hairpin's core chains in the kernel, over netlink; a chain that is not there
// is left out.
func (k *netKernel) ruleCounts(context.Context) (map[string]int, error) {
	if !isRoot() {
		return nil, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]int{}
	err := k.withConnLocked(func(c *netlink.Conn) error {
		for _, chain := range coreChains {
			rules, err := listRules(c, ipv4.af, Table, chain)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			out[chain] = len(rules)
		}
		return nil
	})
	return out, err
}
