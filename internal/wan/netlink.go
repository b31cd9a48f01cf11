package wan

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/rtnl"
)

// NetlinkSource is the kernel side of the watcher: rtnetlink in a network namespace.
type NetlinkSource struct {
	// NS is the namespace (an open /run/netns/NAME); nil means the current one.
	NS *os.File
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
	c, err := rtnl.Dial(s.NS)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	snap := make(Snapshot, len(names))
	index := make(map[int]string)
	for _, name := range names {
		link, err := c.LinkByName(name)
		if errors.Is(err, rtnl.ErrNotFound) {
			snap[name] = IfaceState{}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		index[link.Index] = name
		const upRunning = unix.IFF_UP | unix.IFF_RUNNING
		snap[name] = IfaceState{Exists: true, Up: link.Flags&upRunning == upRunning}
	}
	if len(index) == 0 {
		return snap, index, nil
	}
	var family uint8 = unix.AF_INET
	if s.IPv6 {
		family = unix.AF_UNSPEC // one dump for both families
	}
	addrs, err := c.Addrs(family)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range addrs {
		name, ok := index[a.Index]
		if !ok {
			continue
		}
		st := snap[name]
		switch {
		case a.Prefix.Addr().Is4():
			st.Addrs = append(st.Addrs, a.Prefix.Addr())
			st.Nets = append(st.Nets, a.Prefix.Masked())
		case usable6(a):
			st.Addrs6 = append(st.Addrs6, a.Prefix)
		}
		snap[name] = st
	}
	for name, st := range snap {
		snap[name] = st.normalise()
	}
	return snap, index, nil
}

// usable6 reports whether hairpin can use an IPv6 address: global or ULA (never link-local), neither
// tentative nor failed duplicate address detection, and not deprecated.
func usable6(a rtnl.Addr) bool {
	ip := a.Prefix.Addr()
	if !ip.Is6() || ip.Is4In6() || !ip.IsGlobalUnicast() {
		return false
	}
	return a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_DEPRECATED) == 0
}

// Subscribe implements Source with one socket in the link and address groups (IPv6 addresses only with
// IPv6). Any error the socket reports (ENOBUFS after an overrun, or the socket closed) ends the
// subscription, because after a lost message the only safe course is a full re-list, which the watcher does
// after subscribing again.
func (s NetlinkSource) Subscribe(ctx context.Context) (<-chan Event, error) {
	rcvbuf := s.recvBuf
	if rcvbuf == 0 {
		rcvbuf = subscriptionBuffer
	}
	groups := []uint32{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR}
	if s.IPv6 {
		groups = append(groups, unix.RTNLGRP_IPV6_IFADDR)
	}
	sub, err := rtnl.Subscribe(s.NS, rcvbuf, groups...)
	if err != nil {
		return nil, errfmt.Errorf("interface and address subscription: %w", err)
	}
	out := make(chan Event, 64)
	go forward(ctx, sub, out)
	return out, nil
}

// forward turns the subscription's changes into events until it fails or ctx ends (which closes the socket
// under a waiting Receive), then closes out.
func forward(ctx context.Context, sub *rtnl.Subscription, out chan<- Event) {
	defer close(out)
	stop := context.AfterFunc(ctx, func() { sub.Close() })
	defer func() {
		if stop() {
			sub.Close()
		}
	}()
	for {
		changes, err := sub.Receive()
		if err != nil {
			return
		}
		for _, c := range changes {
			select {
			case out <- Event{Index: c.Index, Name: c.Name}:
			case <-ctx.Done():
				return
			}
		}
	}
}
