package rtnl

import (
	"net/netip"
	"os"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Change says that an interface or one of its addresses changed.
type Change struct {
	// Type is unix.RTM_NEWLINK, unix.RTM_DELLINK, unix.RTM_NEWADDR or unix.RTM_DELADDR.
	Type uint16
	// Index is the interface's index; 0 when the message could not be read, which means "anything may have
	// changed".
	Index int
	// Name is the interface's name in a link change: the new one after a rename.
	Name string
	// Family is an address change's family (unix.AF_INET or unix.AF_INET6).
	Family uint8
}

// Subscription receives the kernel's change messages of a few multicast groups.
type Subscription struct {
	c *netlink.Conn
}

// Subscribe joins the groups (unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, ...) in the network namespace ns
// (nil: the calling thread's); every change after it returns is received. readBuffer, when not 0, sets the
// socket's receive buffer in bytes (the kernel caps it at net.core.rmem_max): a burst larger than the buffer
// is lost, and Receive then reports ENOBUFS.
func Subscribe(ns *os.File, readBuffer int, groups ...uint32) (*Subscription, error) {
	c, err := dial(ns)
	if err != nil {
		return nil, err
	}
	if readBuffer != 0 {
		if err := c.SetReadBuffer(readBuffer); err != nil {
			c.Close()
			return nil, errfmt.Errorf("setting the receive buffer: %w", err)
		}
	}
	for _, g := range groups {
		if err := c.JoinGroup(g); err != nil {
			c.Close()
			return nil, errfmt.Errorf("joining rtnetlink group %d: %w", g, err)
		}
	}
	return &Subscription{c: c}, nil
}

// Receive waits for the next changes. Its error means the subscription is over, because of Close or because
// the kernel dropped messages (unix.ENOBUFS: the buffer was full), after which only reading everything again
// is safe.
func (s *Subscription) Receive() ([]Change, error) {
	msgs, err := s.c.Receive()
	if err != nil {
		return nil, err
	}
	changes := make([]Change, 0, len(msgs))
	for _, m := range msgs {
		ch := Change{Type: uint16(m.Header.Type)}
		switch ch.Type {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			if l, err := parseLink(m.Data); err == nil {
				ch.Index, ch.Name = l.Index, l.Name
			}
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			if a, err := parseAddr(m.Data); err == nil {
				ch.Index, ch.Family = a.Index, familyOf(a.Prefix)
			}
		default:
			continue // not one of the groups' messages
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// Close ends the subscription and makes a waiting Receive return.
func (s *Subscription) Close() error { return s.c.Close() }

func familyOf(p netip.Prefix) uint8 {
	if p.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}
