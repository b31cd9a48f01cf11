package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/netns"
)

// Serve answers on every given TCP port with HTTP and every UDP port with an echo, each reply naming the
// server and the caller's address as the server sees it ("front-cam 192.168.88.1:40312"), which is how the
// tests tell a hairpinned caller (the router's LAN address) from an internet caller (its own address).
func Serve(ctx context.Context, name string, tcpPorts, udpPorts []int) error {
	errc := make(chan error, 2*(len(tcpPorts)+len(udpPorts)))
	var listeners []net.Listener
	for _, p := range tcpPorts {
		l, err := net.Listen("tcp4", fmt.Sprintf(":%d", p))
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		// IPv6 on its own socket, so that an IPv4 caller still shows as 192.168.88.1 and not ::ffff:...
		if l6, err := net.Listen("tcp6", fmt.Sprintf("[::]:%d", p)); err == nil {
			listeners = append(listeners, l6)
		}
	}
	for _, l := range listeners {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == DownloadPath {
				download(w)
				return
			}
			fmt.Fprintf(w, "%s %s\n", name, r.RemoteAddr)
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- srv.Serve(l) }()
		go func() { <-ctx.Done(); _ = srv.Close() }()
	}
	var conns []net.PacketConn
	for _, p := range udpPorts {
		c, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", p))
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if c6, err := net.ListenPacket("udp6", fmt.Sprintf("[::]:%d", p)); err == nil {
			conns = append(conns, c6)
		}
	}
	for _, c := range conns {
		go func() { <-ctx.Done(); _ = c.Close() }()
		go func() { errc <- echo(c, name) }()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// ServeWhoami answers HTTP on port with the caller's address alone, like the public "what is my IP" services
// hairpin asks behind a second NAT; the lab runs it on its internet host.
func ServeWhoami(ctx context.Context, port int) error {
	l, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintln(w, host)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func echo(c net.PacketConn, name string) error {
	buf := make([]byte, 1500)
	for {
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		_, _ = c.WriteTo([]byte(fmt.Sprintf("%s %s\n", name, from)), from)
	}
}

// Answer is what a probe got back.
type Answer struct {
	Server string     // name of the server that answered
	Caller netip.Addr // the caller's address as the server saw it
	Err    error
	Took   time.Duration
}

// OK reports whether the probe got an answer.
func (a Answer) OK() bool { return a.Err == nil }

// Refused reports whether the probe was turned away with a sign a test can trust: a reset (TCP), or an ICMP
// error (port or host unreachable). A timeout is not one: on a busy machine it proves nothing.
func (a Answer) Refused() bool {
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(a.Err, e) {
			return true
		}
	}
	return false
}

func (a Answer) String() string {
	if a.Err != nil {
		return "FAIL (" + shortErr(a.Err) + ")"
	}
	return fmt.Sprintf("%s, sees caller %s", a.Server, a.Caller)
}

func shortErr(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// HTTPGet fetches url from inside namespace ns.
func HTTPGet(ctx context.Context, ns, url string, timeout time.Duration) Answer {
	start := time.Now()
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: netns.Dialer(ns), DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Answer{Err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Answer{Err: err, Took: time.Since(start)}
	}
	defer resp.Body.Close()
	buf := make([]byte, 256)
	n, _ := resp.Body.Read(buf)
	return parseAnswer(string(buf[:n]), time.Since(start))
}

// UDPAsk sends one datagram to addr from inside namespace ns and waits for the echo.
func UDPAsk(ctx context.Context, ns, addr string, timeout time.Duration) Answer {
	start := time.Now()
	var conn net.Conn
	err := netns.Do(ns, func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, "udp", addr)
		return err
	})
	if err != nil {
		return Answer{Err: err}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte("hello")); err != nil {
		return Answer{Err: err}
	}
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil {
		return Answer{Err: err, Took: time.Since(start)}
	}
	return parseAnswer(string(buf[:n]), time.Since(start))
}

func parseAnswer(body string, took time.Duration) Answer {
	name, from, ok := strings.Cut(strings.TrimSpace(body), " ")
	if !ok {
		return Answer{Err: fmt.Errorf("unexpected answer %q", body), Took: took}
	}
	ap, err := netip.ParseAddrPort(from)
	if err != nil {
		return Answer{Err: fmt.Errorf("unexpected caller in %q", body), Took: took}
	}
	return Answer{Server: name, Caller: ap.Addr(), Took: took}
}
