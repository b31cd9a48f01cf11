// Package netns runs code inside a named network namespace (as made by `ip netns add`) from a normal Go
// program: the lab and the tests use it to open sockets and run commands as a host of the virtual network.
package netns

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on an OS thread that has joined the named namespace. The thread is thrown away afterwards
// (the goroutine exits still locked), so no thread with a foreign namespace ever returns to Go's pool.
// Sockets opened inside fn stay in that namespace after fn returns.
func Do(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends this thread when the goroutine returns.
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("network namespace %q: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("entering network namespace %q: %w", name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dialer returns a DialContext function whose connections start in the named namespace.
func Dialer(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := Do(name, func() error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// Listen opens a TCP listener inside the named namespace.
func Listen(name, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := Do(name, func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a UDP socket inside the named namespace.
func ListenPacket(name, network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := Do(name, func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}
