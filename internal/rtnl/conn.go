// Package rtnl reads the kernel's interfaces, addresses and routes over rtnetlink, and follows their changes:
// the few messages hairpin needs, on the netlink library the nftables code already links
// (github.com/mdlayher/netlink). The parsers read what the kernel sends (outside input) and are fuzzed.
package rtnl

import (
	"errors"
	"os"
	"runtime"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// ErrNotFound is wrapped by the error of a lookup whose interface does not exist.
var ErrNotFound = errors.New("no such interface")

// dumpAttempts bounds the re-dumps after the kernel reports that a table changed during a dump
// (NLM_F_DUMP_INTR): each attempt is a few syscalls, and a table that changes on every attempt is a kernel
// busier than any router's.
const dumpAttempts = 5

// ErrDumpInterrupted is wrapped by the error of a dump that changed under the kernel dumpAttempts times in a
// row; the caller can retry later.
var ErrDumpInterrupted = errors.New("the table changed during every dump")

// Conn asks the kernel questions: one request, one answer at a time. It is not for concurrent use.
type Conn struct {
	c *netlink.Conn
}

// Dial opens an rtnetlink socket in the network namespace ns (an open /run/netns/NAME or /proc/PID/ns/net),
// or in the calling thread's namespace when ns is nil. ns may be closed once Dial returns.
func Dial(ns *os.File) (*Conn, error) {
	c, err := dial(ns)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c}, nil
}

func dial(ns *os.File) (*netlink.Conn, error) {
	var cfg netlink.Config
	if ns != nil {
		cfg.NetNS = int(ns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &cfg)
	runtime.KeepAlive(ns)
	if err != nil {
		return nil, errfmt.Errorf("opening rtnetlink: %w", err)
	}
	return c, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// get sends the request typ (an RTM_GET*) and returns the payload of its answer, of type ans (RTM_NEW*).
func (c *Conn) get(typ, ans uint16, data []byte) ([]byte, error) {
	msgs, err := c.c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request},
		Data:   data,
	})
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.Header.Type == netlink.HeaderType(ans) {
			return m.Data, nil
		}
	}
	return nil, errfmt.Errorf("rtnetlink: no answer of type %d to request %d", ans, typ)
}

// dump sends the dump request typ and returns the payloads of the answers of type ans. When the kernel
// reports that the table changed meanwhile (a dump spans several reads, and the table may change between
// them), it dumps again, so that the answer is one consistent table.
func (c *Conn) dump(typ, ans uint16, data []byte) ([][]byte, error) {
	for range dumpAttempts {
		msgs, err := c.c.Execute(netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | netlink.Dump},
			Data:   data,
		})
		if err != nil {
			return nil, err
		}
		var out [][]byte
		interrupted := false
		for _, m := range msgs {
			interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
			if m.Header.Type == netlink.HeaderType(ans) {
				out = append(out, m.Data)
			}
		}
		if !interrupted {
			return out, nil
		}
	}
	return nil, ErrDumpInterrupted
}

// list dumps with the request typ and parses every answer of type ans; what names the table in errors.
func list[T any](c *Conn, typ, ans uint16, req []byte, parse func([]byte) (T, error), what string) ([]T, error) {
	msgs, err := c.dump(typ, ans, req)
	if err != nil {
		return nil, errfmt.Errorf("listing %s: %w", what, err)
	}
	out := make([]T, 0, len(msgs))
	for _, b := range msgs {
		v, err := parse(b)
		if err != nil {
			return nil, errfmt.Errorf("listing %s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, nil
}
