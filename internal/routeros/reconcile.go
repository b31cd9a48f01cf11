package routeros

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// Writes are ordered so that every intermediate state is safe and a failure at any point converges on the
// next reconcile: address lists before the rules that use them, new and corrected items before stale ones
// are removed, and nothing but marked items is ever written. RouterOS has no transactions over REST, so a
// reconcile that fails halfway leaves a mix of old and new hairpin items, never a changed user item.

// readTable fetches a whole menu (the NAT table is small; its foreign rules are needed to place ours).
func (b *Backend) readTable(ctx context.Context, path string, query url.Values) (*table, error) {
	entries, err := b.c.do(ctx, web.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	return &table{path: path, entries: entries}, nil
}

// readLists fetches hairpin's two address lists by name, and hairpin's marked entries wherever someone moved
// them, with one print query: address lists can hold hundreds of thousands of entries (blocklists) that
// hairpin must not download. A user's own entries in hairpin's lists are read too: they provide their
// address, and hairpin never adds a duplicate (RouterOS refuses it) nor touches them.
//
// allow names the forwards whose allow lists are read too (list hairpin-allow-NAME and the entries marked for
// NAME): those the plan wants and those hairpin's rules on the router still name.
func (b *Backend) readLists(ctx context.Context, allow ...string) (*table, error) {
	query := []string{"list=" + ListWAN, "list=" + ListLAN, "#|", "comment=" + markWAN, "#|", "comment=" + markLAN, "#|"}
	for _, f := range allow {
		query = append(query, "list="+ListAllowPrefix+f, "#|", "comment="+markAllow(f), "#|")
	}
	entries, err := b.c.do(ctx, web.MethodPost, pathAddrList+"/print", nil, map[string]any{
		".proplist": ".id,list,address,comment,disabled",
		".query":    query,
	})
	if err != nil {
		return nil, err
	}
	return &table{path: pathAddrList, entries: entries}, nil
}

// readLists6 fetches hairpin's /ipv6 firewall address-list entries: list hairpin-wan there, and the
// entries marked as its wherever they were moved.
func (b *Backend) readLists6(ctx context.Context) (*table, error) {
	entries, err := b.c.do(ctx, web.MethodPost, pathAddrList6+"/print", nil, map[string]any{
		".proplist": ".id,list,address,comment,disabled",
		".query":    []string{"list=" + ListWAN, "comment=" + markWAN, "#|"},
	})
	if err != nil {
		return nil, err
	}
	return &table{path: pathAddrList6, entries: entries}, nil
}

func (b *Backend) create(ctx context.Context, t *table, w item, before string) error {
	body := map[string]string{"comment": w.key}
	for k, v := range w.props {
		body[k] = v
	}
	if before != "" {
		body["place-before"] = before
	}
	got, err := b.c.do(ctx, web.MethodPut, t.path, nil, body)
	if err != nil {
		return err
	}
	if len(got) == 1 {
		t.insert(got[0], before)
	}
	return nil
}

func (b *Backend) patch(ctx context.Context, t *table, id string, props Entry) error {
	got, err := b.c.do(ctx, web.MethodPatch, t.path+"/"+id, nil, props)
	if err != nil {
		return err
	}
	if len(got) == 1 {
		t.update(got[0])
	}
	return nil
}

// remove deletes one of hairpin's items; one that is already gone is fine.
func (b *Backend) remove(ctx context.Context, t *table, id string) error {
	if _, err := b.c.do(ctx, web.MethodDelete, t.path+"/"+id, nil, nil); err != nil && !IsNotFound(err) {
		return err
	}
	t.remove(id)
	return nil
}

func (b *Backend) move(ctx context.Context, t *table, id, before string) error {
	if _, err := b.c.do(ctx, web.MethodPost, t.path+"/move", nil, map[string]string{"numbers": id, "destination": before}); err != nil {
		return err
	}
	t.move(id, before)
	return nil
}

// syncRules makes the marked rules of t exactly want, matching an interface by its list where withLists says
// so. Each rule is created before the foreign rule place names
// (place-before; firstShadow for NAT: the first that could shadow it, firstInChain for the mangle marks) or
// appended when there is none; a rule of hairpin's that such a foreign rule has come to precede is moved up. Foreign rules are never written: inserting or moving hairpin's own rules keeps the
// order of everyone else's. Rules are not all put at the top, so that a user's NAT exemptions (accept)
// and unrelated rules keep precedence.
func (b *Backend) syncRules(ctx context.Context, t *table, want []item, place func(*table, Entry) string) error {
	want, err := b.withLists(ctx, want)
	if err != nil {
		return err
	}
	have := t.ownedBy()
	var stale []string
	for _, w := range want {
		keep, extra := pick(have[w.key], w)
		delete(have, w.key)
		stale = append(stale, extra...)
		shadow := place(t, w.props)
		if keep == nil || foreignSetting(keep, w) != "" {
			if keep != nil {
				b.log.Warn("replacing a hairpin rule that was edited", "comment", w.key, "id", keep.ID(), "property", foreignSetting(keep, w))
				stale = append(stale, keep.ID())
			}
			if err := b.create(ctx, t, w, shadow); err != nil {
				return err
			}
			continue
		}
		if diff := changes(keep, w); len(diff) > 0 {
			b.log.Warn("repairing a hairpin rule that was edited", "comment", w.key, "id", keep.ID())
			if err := b.patch(ctx, t, keep.ID(), diff); err != nil {
				return err
			}
		}
		if shadow != "" && t.index(shadow) < t.index(keep.ID()) {
			b.log.Info("moving a hairpin rule above a rule that would take its packets", "comment", w.key, "before", shadow)
			if err := b.move(ctx, t, keep.ID(), shadow); err != nil {
				return err
			}
		}
	}
	for _, es := range have {
		for _, e := range es {
			stale = append(stale, e.ID())
		}
	}
	return b.removeAll(ctx, t, stale)
}

// pick chooses which of several items with the same marker to keep (the one already right, else the first
// without foreign settings, else the first) and returns the ids of the others.
func pick(cands []Entry, w item) (Entry, []string) {
	if len(cands) == 0 {
		return nil, nil
	}
	best := slices.IndexFunc(cands, func(e Entry) bool { return len(changes(e, w)) == 0 && foreignSetting(e, w) == "" })
	if best < 0 {
		best = slices.IndexFunc(cands, func(e Entry) bool { return foreignSetting(e, w) == "" })
	}
	if best < 0 {
		best = 0
	}
	var rest []string
	for i, e := range cands {
		if i != best {
			rest = append(rest, e.ID())
		}
	}
	return cands[best], rest
}

func (b *Backend) removeAll(ctx context.Context, t *table, ids []string) error {
	for _, id := range ids {
		if err := b.remove(ctx, t, id); err != nil {
			return err
		}
	}
	return nil
}

// syncList makes the entries marked mark in t hold exactly addrs in list. An address that changed is one
// PATCH of an entry that is no longer wanted (the common case: the WAN address moved), so the daemon's
// reaction to an address change is a single write.
func (b *Backend) syncList(ctx context.Context, t *table, list, mark string, addrs []string) error {
	want := listItems(list, mark, addrs)
	missing := make([]item, 0, len(want))
	var spare []Entry
	have := t.ownedBy()[mark]
	taken := map[string]bool{}
	for _, e := range t.entries {
		if owned(e["comment"]) || e["list"] != list {
			continue
		}
		// The user's own entry already puts this address in the list, and RouterOS would refuse a second one.
		a := canonAddr(e["address"])
		taken[a] = true
		if e["disabled"] == "true" && slices.Contains(addrs, a) {
			b.log.Warn("your own disabled entry in a hairpin address list keeps hairpin from adding the address; enable or remove it",
				"list", list, "address", a, "id", e.ID())
		}
	}
	for _, e := range have {
		a := canonAddr(e["address"])
		if e["list"] == list && e["disabled"] != "true" && !taken[a] && slices.Contains(addrs, a) {
			taken[a] = true
			continue
		}
		spare = append(spare, e)
	}
	for _, w := range want {
		if !taken[w.props["address"]] {
			missing = append(missing, w)
		}
	}
	for _, w := range missing {
		if len(spare) > 0 {
			e := spare[0]
			spare = spare[1:]
			if err := b.patch(ctx, t, e.ID(), changes(e, w)); err != nil {
				return err
			}
			continue
		}
		if err := b.create(ctx, t, w, ""); err != nil {
			return err
		}
	}
	var stale []string
	for _, e := range spare {
		stale = append(stale, e.ID())
	}
	return b.removeAll(ctx, t, stale)
}

// removeOwned deletes every marked item of t whose marker starts with prefix.
func (b *Backend) removeOwned(ctx context.Context, t *table, prefix string) (int, error) {
	var ids []string
	for _, e := range t.entries {
		if c := e["comment"]; owned(c) && strings.HasPrefix(c, prefix) {
			ids = append(ids, e.ID())
		}
	}
	return len(ids), b.removeAll(ctx, t, ids)
}
