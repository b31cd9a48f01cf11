package provider

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// MaxBody caps how much of an answer is read; every documented answer is far smaller.
const MaxBody = 64 << 10

// ParseServer checks a provider's base URL. https is expected; plain http is allowed because the URL says so,
// with a warning, since credentials then cross the network in clear.
func ParseServer(raw, fallback string, env Env, hostname string) (*url.URL, error) {
	if raw == "" {
		raw = fallback
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errfmt.Errorf("server %q is not a URL such as %s", raw, fallback)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if env.Logger != nil {
			env.Logger.Warn("ddns: server uses plain http; credentials cross the network unencrypted",
				"hostname", hostname, "server", u.Scheme+"://"+u.Host)
		}
	default:
		return nil, errfmt.Errorf("server %q: scheme must be https (or http, unencrypted)", raw)
	}
	if u.User != nil {
		return nil, errfmt.Errorf("server URL must not carry credentials; use username and password_file")
	}
	return u, nil
}

// Do sends req with the user agent and returns the status, the (capped) body and the Retry-After delay if the
// server gave one. Failures to get any answer are Transient.
func Do(ctx context.Context, env Env, req *web.Request) (int, []byte, time.Duration, error) {
	status, header, body, err := DoHeader(ctx, env, req)
	if err != nil {
		return 0, nil, 0, err
	}
	return status, body, retryAfter(header.Get("Retry-After")), nil
}

// DoHeader is Do with the answer's headers, for providers that read rate-limit headers of their own.
func DoHeader(ctx context.Context, env Env, req *web.Request) (int, web.Header, []byte, error) {
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", env.UserAgent)
	client := env.HTTP
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, Transient("no answer from the server", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return 0, nil, nil, Transient("reading the answer", err)
	}
	if resp.StatusCode/100 == 3 && resp.StatusCode != web.StatusNotModified && env.Logger != nil {
		env.Logger.Warn("ddns: the server answered with a redirect, which hairpin does not follow; configure the URL it names",
			"status", resp.StatusCode, "server", req.URL.Scheme+"://"+req.URL.Host, "to", redirectTarget(resp.Header.Get("Location")))
	}
	return resp.StatusCode, resp.Header, body, nil
}

// redirectTarget is a Location's scheme and host, never its path or query, where a token may sit.
func redirectTarget(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return "(a path on the same server)"
	}
	return u.Scheme + "://" + u.Host
}

// defaultClient serves an Env without a client of its own (tests, hairpin ddns commands that build one Env).
var defaultClient = &web.Client{Proxy: web.ProxyFromEnvironment}

// retryAfter reads a Retry-After header, capped at MaxWait (a server asking for a century must not silence a
// hostname for one, and a huge number must not overflow into a negative wait).
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
		return min(time.Duration(min(s, int64(MaxWait/time.Second)))*time.Second, MaxWait)
	}
	if t, err := web.ParseTime(v); err == nil {
		return min(time.Until(t), MaxWait)
	}
	return 0
}
