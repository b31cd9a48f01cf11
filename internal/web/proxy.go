package web

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// ProxyFromEnvironment is a Client.Proxy that reads the proxy environment as net/http's does: HTTPS_PROXY (or
// https_proxy) for https URLs, HTTP_PROXY (or http_proxy) for http ones, except the hosts NO_PROXY (or
// no_proxy) names; loopback hosts never go through a proxy. A proxy URL without a scheme is http. Only http and
// https proxies are supported (net/http also speaks socks5).
func ProxyFromEnvironment(req *Request) (*url.URL, error) {
	var raw string
	if req.URL.Scheme == "https" {
		raw = getenv("HTTPS_PROXY", "https_proxy")
	} else {
		raw = getenv("HTTP_PROXY", "http_proxy")
		if raw != "" && os.Getenv("REQUEST_METHOD") != "" {
			// Running as a CGI program, HTTP_PROXY may come from the client's Proxy header (httpoxy).
			raw = ""
		}
	}
	if raw == "" || !useProxy(hostPort(req.URL), getenv("NO_PROXY", "no_proxy")) {
		return nil, nil
	}
	return parseProxy(raw)
}

func getenv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func parseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if u2, err2 := url.Parse("http://" + raw); err2 == nil && u2.Host != "" {
			u, err = u2, nil
		}
	}
	if err != nil || u.Host == "" {
		return nil, errfmt.Errorf("invalid proxy address %s", quote(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errfmt.Errorf("proxy %s: only http and https proxies are supported", quote(u.Scheme+"://"+u.Host))
	}
	return u, nil
}

// useProxy reports whether addr (host:port) goes through the proxy given the NO_PROXY list noProxy: entries
// separated by commas, each an IP address, a CIDR prefix, or a domain name (matching itself and its
// subdomains; with a leading "." or "*.", only the subdomains), optionally with a port; "*" alone matches
// everything.
func useProxy(addr, noProxy string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	host = strings.ToLower(host)
	if host == "localhost" {
		return false
	}
	ip, ipErr := netip.ParseAddr(host)
	if ipErr == nil && ip.Unmap().IsLoopback() {
		return false
	}
	for _, e := range strings.Split(noProxy, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return false
		}
		if pfx, err := netip.ParsePrefix(e); err == nil {
			if ipErr == nil && pfx.Contains(ip.Unmap()) {
				return false
			}
			continue
		}
		ehost, eport := e, ""
		if h, p, err := net.SplitHostPort(e); err == nil {
			ehost, eport = h, p
		}
		if eport != "" && eport != port {
			continue
		}
		if eip, err := netip.ParseAddr(ehost); err == nil {
			if ipErr == nil && eip.Unmap() == ip.Unmap() {
				return false
			}
			continue
		}
		ehost = strings.TrimPrefix(ehost, "*")
		if strings.HasPrefix(ehost, ".") {
			if strings.HasSuffix(host, ehost) {
				return false
			}
			continue
		}
		if host == ehost || strings.HasSuffix(host, "."+ehost) {
			return false
		}
	}
	return true
}

// proxyHostPort is the proxy's address with its scheme's default port.
func proxyHostPort(p *url.URL) string { return hostPort(p) }

// proxyAuth is the Proxy-Authorization value for a proxy URL with credentials, or "".
func proxyAuth(p *url.URL) string {
	if p.User == nil {
		return ""
	}
	pw, _ := p.User.Password()
	r := Request{Header: Header{}}
	r.SetBasicAuth(p.User.Username(), pw)
	return r.Header.Get("Authorization")
}

// connect asks the proxy on conn for a tunnel to addr (host:port), for TLS to the server through it.
func (c *Client) connect(ctx context.Context, conn net.Conn, addr string, proxy *url.URL) error {
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	msg := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if auth := proxyAuth(proxy); auth != "" {
		msg += "Proxy-Authorization: " + auth + "\r\n"
	}
	if _, err := conn.Write([]byte(msg + "\r\n")); err != nil {
		return errfmt.Errorf("proxy %s: %w", proxy.Host, err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := ReadResponse(br, &Request{Method: "CONNECT"})
	if err != nil {
		return errfmt.Errorf("proxy %s: %w", proxy.Host, err)
	}
	if resp.StatusCode/100 != 2 {
		return errfmt.Errorf("proxy %s refused the tunnel to %s: %s", proxy.Host, addr, resp.Status)
	}
	if br.Buffered() > 0 {
		return errfmt.Errorf("proxy %s sent data before the TLS handshake", proxy.Host)
	}
	conn.SetDeadline(time.Time{})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}
