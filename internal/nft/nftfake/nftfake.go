// Package nftfake keeps hairpin's two tables in knftables' fake, for tests without root: nft.NewFakeOver
// runs the backend's scripts (internal/nft/script) on it. Only tests import it, so knftables stays out of
// the shipped binary.
package nftfake

import (
	"context"
	"fmt"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/nft/script"
)

// Tables is table ip NAME (V4) and table ip6 NAME (V6).
type Tables struct {
	V4, V6 *knftables.Fake
}

// New returns the two tables named name, both absent.
func New(name string) *Tables {
	return &Tables{V4: knftables.NewFake(knftables.IPv4Family, name), V6: knftables.NewFake(knftables.IPv6Family, name)}
}

func (t *Tables) of(fam script.Family) *knftables.Fake {
	if fam == script.IPv6Family {
		return t.V6
	}
	return t.V4
}

// Run runs tx on its family's table, all of it or nothing.
func (t *Tables) Run(ctx context.Context, tx *script.Transaction) error {
	f := t.of(tx.Family())
	ktx := f.NewTransaction()
	for _, op := range tx.Ops() {
		obj := convert(op.Obj)
		switch op.Verb {
		case script.Add:
			ktx.Add(obj)
		case script.Flush:
			ktx.Flush(obj)
		case script.Delete:
			ktx.Delete(obj)
		default:
			return fmt.Errorf("nftfake: verb %q", op.Verb)
		}
	}
	return f.Run(ctx, ktx)
}

func convert(o script.Object) knftables.Object {
	switch o := o.(type) {
	case *script.Table:
		return &knftables.Table{Comment: o.Comment}
	case *script.Chain:
		c := &knftables.Chain{Name: o.Name}
		if o.Type != nil {
			typ, hook, prio := knftables.BaseChainType(*o.Type), knftables.BaseChainHook(*o.Hook), knftables.BaseChainPriority(*o.Priority)
			c.Type, c.Hook, c.Priority = &typ, &hook, &prio
		}
		if o.Policy != nil {
			p := knftables.BaseChainPolicy(*o.Policy)
			c.Policy = &p
		}
		return c
	case *script.Rule:
		return &knftables.Rule{Chain: o.Chain, Rule: o.Rule}
	case *script.Set:
		s := &knftables.Set{Name: o.Name, Type: o.Type, Timeout: o.Timeout, Size: o.Size}
		for _, f := range o.Flags {
			s.Flags = append(s.Flags, knftables.SetFlag(f))
		}
		return s
	case *script.Map:
		return &knftables.Map{Name: o.Name, Type: o.Type}
	case *script.Element:
		return &knftables.Element{Set: o.Set, Map: o.Map, Key: o.Key, Value: o.Value}
	case *script.Counter:
		return &knftables.Counter{Name: o.Name, Comment: o.Comment, Packets: o.Packets, Bytes: o.Bytes}
	}
	panic(fmt.Sprintf("nftfake: object %T", o))
}

// Table reports whether fam's table exists, and its comment.
func (t *Tables) Table(fam script.Family) (exists bool, comment *string) {
	f := t.of(fam)
	f.RLock()
	defer f.RUnlock()
	if f.Table == nil {
		return false, nil
	}
	return true, f.Table.Comment
}

// Elements lists the keys of set name in table ip; found is false when there is no such set.
func (t *Tables) Elements(ctx context.Context, set string) (keys [][]string, found bool, err error) {
	elems, err := t.V4.ListElements(ctx, "set", set)
	if knftables.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, e := range elems {
		keys = append(keys, e.Key)
	}
	return keys, true, nil
}

// Objects lists the names of table ip's objects by kind (chain, set, map, counter), reads its named counters'
// packets, and lists its chains whose policy is drop.
func (t *Tables) Objects(ctx context.Context) (names map[string][]string, packets map[string]uint64, drop []string, err error) {
	f := t.V4
	names = map[string][]string{}
	for _, kind := range []string{"chain", "set", "map", "counter"} {
		n, err := f.List(ctx, kind)
		if err != nil && !knftables.IsNotFound(err) {
			return nil, nil, nil, err
		}
		names[kind] = n
	}
	packets = map[string]uint64{}
	f.RLock()
	defer f.RUnlock()
	if f.Table == nil {
		return names, packets, nil, nil
	}
	for _, name := range names["counter"] {
		if c := f.Table.Counters[name]; c != nil && c.Packets != nil {
			packets[name] = *c.Packets
		} else {
			packets[name] = 0
		}
	}
	for name, c := range f.Table.Chains {
		if c.Policy != nil && *c.Policy == knftables.DropPolicy {
			drop = append(drop, name)
		}
	}
	return names, packets, drop, nil
}

// RuleCounts counts the rules of each of chains in table ip that exists.
func (t *Tables) RuleCounts(chains []string) map[string]int {
	out := map[string]int{}
	f := t.V4
	f.RLock()
	defer f.RUnlock()
	if f.Table == nil {
		return out
	}
	for _, c := range chains {
		if ch := f.Table.Chains[c]; ch != nil {
			out[c] = len(ch.Rules)
		}
	}
	return out
}
