package wan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkSource is the kernel side of the watcher: rtnetlink in a network namespace.
type NetlinkSource struct {
	// NS is the namespace; nil means the current one.
	NS *netns.NsHandle
	// IPv6 lists IPv6 addresses too (IfaceState.Addrs6) and passes on their events.
	IPv6 bool

	recvBuf int // socket buffer size for subscriptions; 0 means subscriptionBuffer (tests shrink it)
}

var _ Source = NetlinkSource{}

// subscriptionBuffer asks for a larger socket buffer than the default so that bursts (a PPP link flapping
// with many addresses) are less likely to overflow into ENOBUFS. The kernel caps it at net.core.rmem_max.
const subscriptionBuffer = 1 << 20

// List implements Source with one link lookup per name and one address dump.
func (s NetlinkSource) List(names []string) (Snapshot, map[int]string, error) {
	h, err := s.handle()
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	snap := make(Snapshot, len(names))
	index := make(map[int]string)
	for _, name := range names {
		link, err := h.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				snap[name] = IfaceState{}
				continue
			}
			return nil, nil, fmt.Errorf("interface %q: %w", name, err)
		}
		a := link.Attrs()
		index[a.Index] = name
		snap[name] = IfaceState{Exists: true, Up: a.Flags&net.FlagUp != 0 && a.Flags&net.FlagRunning != 0}
	}
	if len(index) == 0 {
		return snap, index, nil
	}
	family := netlink.FAMILY_V4
	if s.IPv6 {
		family = netlink.FAMILY_ALL // one dump for both families
	}
	addrs, err := h.AddrList(nil, family)
	if err != nil {
		return nil, nil, fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		name, ok := index[a.LinkIndex]
		if !ok {
			continue
		}
		if p, ok := usable6(a); ok {
			st := snap[name]
			st.Addrs6 = append(st.Addrs6, p)
			snap[name] = st
			continue
		}
		ip, pfx, ok := v4(a.IPNet)
		if !ok {
			continue
		}
		st := snap[name]
		st.Addrs = append(st.Addrs, ip)
		st.Nets = append(st.Nets, pfx)
		snap[name] = st
	}
	for name, st := range snap {
		snap[name] = st.normalise()
	}
	return snap, index, nil
}

func (s NetlinkSource) handle() (*netlink.Handle, error) {
	if s.NS == nil {
		return netlink.NewHandle()
	}
	h, err := netlink.NewHandleAt(*s.NS)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in namespace: %w", err)
	}
	return h, nil
}

// v4 turns a netlink address into an IPv4 address and its masked subnet.
func v4(n *net.IPNet) (netip.Addr, netip.Prefix, bool) {
	if n == nil {
		return netip.Addr{}, netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Addr{}, netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		ones = 32
	}
	return ip, netip.PrefixFrom(ip, ones).Masked(), true
}

// usable6 turns a netlink address into an IPv6 address with its prefix length, when hairpin can use it:
// global or ULA (never link-local), neither tentative nor failed duplicate address detection, and not
// deprecated.
func usable6(a netlink.Addr) (netip.Prefix, bool) {
	if a.IPNet == nil || a.IP.To4() != nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok || !ip.Is6() || ip.IsLinkLocalUnicast() || !ip.IsGlobalUnicast() {
		return netip.Prefix{}, false
	}
	if a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_DEPRECATED) != 0 {
		return netip.Prefix{}, false
	}
	ones, bits := a.Mask.Size()
	if bits != 128 {
		ones = 128
	}
	return netip.PrefixFrom(ip, ones), true
}

// Subscribe implements Source with one link and one address subscription. Any error the library reports
// (ENOBUFS, a malformed message, a message from a non-kernel sender) ends both, because after a lost message
// the only safe course is a full re-list, which the watcher does after subscribing again.
func (s NetlinkSource) Subscribe(ctx context.Context) (<-chan Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	lost := func(error) { once.Do(cancel) }
	rcvbuf := s.recvBuf
	if rcvbuf == 0 {
		rcvbuf = subscriptionBuffer
	}
	ns := s.NS
	if ns == nil {
		none := netns.None()
		ns = &none
	}
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	err := netlink.LinkSubscribeWithOptions(links, ctx.Done(), netlink.LinkSubscribeOptions{
		Namespace: ns, ErrorCallback: lost, ReceiveBufferSize: rcvbuf,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("link subscription: %w", err)
	}
	err = netlink.AddrSubscribeWithOptions(addrs, ctx.Done(), netlink.AddrSubscribeOptions{
		Namespace: ns, ErrorCallback: lost, ReceiveBufferSize: rcvbuf,
	})
	if err != nil {
		cancel()
		for range links {
		}
		return nil, fmt.Errorf("address subscription: %w", err)
	}
	out := make(chan Event, 64)
	go merge(ctx, cancel, links, addrs, out, s.IPv6)
	return out, nil
}

// merge forwards both subscriptions as events until either ends or ctx ends, then closes out once both
// library goroutines have finished (they block on their channels otherwise).
func merge(ctx context.Context, cancel context.CancelFunc, links <-chan netlink.LinkUpdate, addrs <-chan netlink.AddrUpdate, out chan<- Event, ipv6 bool) {
	defer close(out)
	defer func() {
		cancel()
		for range links {
		}
		for range addrs {
		}
	}()
	for {
		var ev Event
		select {
		case <-ctx.Done():
			return
		case u, ok := <-links:
			if !ok {
				return
			}
			ev = Event{Index: int(u.Index)}
			if u.Link != nil {
				ev.Name = u.Link.Attrs().Name
			}
		case u, ok := <-addrs:
			if !ok {
				return
			}
			if u.LinkAddress.IP.To4() == nil && !ipv6 {
				continue // IPv6 addresses do not matter here
			}
			ev = Event{Index: u.LinkIndex}
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return
		}
	}
}
