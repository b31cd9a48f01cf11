package wan

import (
	"errors"
	"net/netip"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/rtnl"
)

// Link is one interface as `hairpin init` sees it: its name and IPv4 addresses with their prefix length.
type Link struct {
	Name  string
	Addrs []netip.Prefix
}

// Choice is an interface init picked, and why, in words for the user.
type Choice struct {
	Name string
	Why  string
}

// Detect reads this machine's interfaces and IPv4 default route and picks the WAN and LAN as Choose does.
func Detect() (wanIf, lanIf Choice, err error) {
	c, err := rtnl.Dial(nil)
	if err != nil {
		return Choice{}, Choice{}, err
	}
	defer c.Close()
	links, err := c.Links()
	if err != nil {
		return Choice{}, Choice{}, err
	}
	addrs, err := c.Addrs(unix.AF_INET)
	if err != nil {
		return Choice{}, Choice{}, err
	}
	routes, err := c.DefaultRoutes(unix.AF_INET)
	if err != nil {
		return Choice{}, Choice{}, err
	}
	names := map[int]string{}
	var ls []Link
	for _, l := range links {
		names[l.Index] = l.Name
		if l.Flags&unix.IFF_LOOPBACK != 0 {
			continue
		}
		link := Link{Name: l.Name}
		for _, a := range addrs {
			if a.Index == l.Index {
				link.Addrs = append(link.Addrs, a.Prefix)
			}
		}
		ls = append(ls, link)
	}
	var def, via string
	var best uint32
	for i, r := range routes {
		if i == 0 || r.Priority < best {
			best, def, via = r.Priority, names[r.OIF], ""
			if r.Gateway.IsValid() {
				via = r.Gateway.String()
			}
		}
	}
	return Choose(ls, def, via)
}

// Choose picks the WAN (the interface of the default route, via gateway gw) and the LAN (the interface
// holding a private IPv4 address that is not the WAN; with several, the one with the most private addresses,
// then the first), and says why, so that `hairpin init` can tell the user what it assumed.
func Choose(links []Link, defaultIf, gw string) (wanIf, lanIf Choice, err error) {
	if defaultIf == "" {
		return Choice{}, Choice{}, errors.New("this machine has no IPv4 default route, so the WAN interface is unknown: give it with --wan")
	}
	wanIf = Choice{Name: defaultIf, Why: "the interface of the default route"}
	if gw != "" {
		wanIf.Why += " (via " + gw + ")"
	}
	type cand struct {
		name string
		priv []string
	}
	var cands []cand
	for _, l := range links {
		if l.Name == defaultIf || l.Name == "lo" {
			continue
		}
		var priv []string
		for _, p := range l.Addrs {
			if p.Addr().Is4() && p.Addr().IsPrivate() {
				priv = append(priv, p.String())
			}
		}
		if len(priv) > 0 {
			cands = append(cands, cand{l.Name, priv})
		}
	}
	if len(cands) == 0 {
		return wanIf, Choice{}, errfmt.Errorf("no interface besides the WAN %s has a private IPv4 address, so the LAN is unknown: give it with --lan", defaultIf)
	}
	sort.SliceStable(cands, func(i, j int) bool { return len(cands[i].priv) > len(cands[j].priv) })
	lanIf = Choice{Name: cands[0].name, Why: "holds the private address " + strings.Join(cands[0].priv, ", ") + " and is not the WAN"}
	if len(cands) > 1 {
		var others []string
		for _, c := range cands[1:] {
			others = append(others, c.name)
		}
		lanIf.Why += "; also private: " + strings.Join(others, ", ") + " (choose with --lan)"
	}
	return wanIf, lanIf, nil
}
