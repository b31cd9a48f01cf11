package daemon

import (
	"context"
	"embed"
	"errors"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// The status page: one HTML file, its script and style sheet, all in the binary and served by the status
// listener, with nothing from anywhere else (no build step, no fonts, no CDN).
//
//go:embed page
var pageFiles embed.FS

// pageCSP allows the page its own script, style sheet, icon and /status, and nothing else: no inline script,
// no other origin, no framing, no form posting anywhere.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// forceEvery bounds how often the page's "Update DNS now" reaches the providers: pressing it a hundred times
// must not get the account banned.
const forceEvery = 30 * time.Second

// PageSize is the bytes of the page's files, for `make bench`.
func PageSize() int {
	n := 0
	for _, f := range []string{"index.html", "page.js", "page.css", "favicon.svg"} {
		b, _ := pageFiles.ReadFile("page/" + f)
		n += len(b)
	}
	return n
}

func pageHeaders(w web.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// pageRoutes serves the page at / and its files beside it.
func pageRoutes(mux *web.ServeMux) {
	for path, file := range map[string]string{"/{$}": "index.html", "/page.js": "page.js", "/page.css": "page.css", "/favicon.svg": "favicon.svg"} {
		body, err := pageFiles.ReadFile("page/" + file)
		if err != nil {
			panic(err) // the embed directive lists them; a missing file is a build mistake
		}
		ctype := map[string]string{"index.html": "text/html; charset=utf-8", "page.js": "text/javascript; charset=utf-8",
			"page.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}[file]
		mux.HandleFunc("GET "+path, func(w web.ResponseWriter, r *web.Request) {
			pageHeaders(w, ctype)
			_, _ = w.Write(body)
		})
	}
}

// controlRoutes are the state-changing requests, each behind the listener's control setting, the Origin check
// and, on TCP, the bearer token: POST /reload, POST /probe (probe now), POST /ddns/update (send the DNS
// records now, at most once per forceEvery).
func (d *Daemon) controlRoutes(mux *web.ServeMux, sl *statusListener) {
	guard := func(h func(w web.ResponseWriter, r *web.Request)) web.HandlerFunc {
		return func(w web.ResponseWriter, r *web.Request) {
			ctl := sl.ctl.Load()
			if !ctl.on {
				web.Error(w, "the status listener is read-only: reload with SIGHUP (systemctl reload hairpin), or set daemon.control", web.StatusForbidden)
				return
			}
			if err := sameOrigin(r); err != nil {
				web.Error(w, err.Error(), web.StatusForbidden)
				return
			}
			if !sl.unix && !bearer(r, ctl.token) {
				w.Header().Set("WWW-Authenticate", "Bearer")
				web.Error(w, "send the token of daemon.control_token_file as Authorization: Bearer TOKEN", web.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /reload", guard(func(w web.ResponseWriter, r *web.Request) {
		if err := d.Reload(r.Context()); err != nil {
			web.Error(w, err.Error(), web.StatusUnprocessableEntity)
			return
		}
		_, _ = io.WriteString(w, "reloaded\n")
	}))
	mux.HandleFunc("POST /probe", guard(func(w web.ResponseWriter, r *web.Request) {
		reply := make(chan error, 1)
		select {
		case d.probeNow <- reply:
		case <-r.Context().Done():
			return
		}
		if err := <-reply; err != nil {
			web.Error(w, err.Error(), web.StatusConflict)
			return
		}
		_, _ = io.WriteString(w, "probing; the result shows in status in a few seconds\n")
	}))
	var forceMu sync.Mutex
	var forced time.Time
	mux.HandleFunc("POST /ddns/update", guard(func(w web.ResponseWriter, r *web.Request) {
		d.mu.Lock()
		engine := d.ddns
		d.mu.Unlock()
		fe, ok := engine.(forcer)
		if !ok {
			web.Error(w, "no dynamic DNS configured", web.StatusConflict)
			return
		}
		forceMu.Lock()
		if since := time.Since(forced); !forced.IsZero() && since < forceEvery {
			forceMu.Unlock()
			w.Header().Set("Retry-After", (forceEvery - since).Round(time.Second).String())
			web.Error(w, "a DNS update was forced less than 30 s ago; wait a little", web.StatusTooManyRequests)
			return
		}
		forced = time.Now()
		forceMu.Unlock()
		if err := fe.ForceUpdate(r.Context()); err != nil {
			web.Error(w, err.Error(), web.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "DNS records sent\n")
	}))
}

// forcer is a DNS engine that can send every record now (ddns.Engine).
type forcer interface {
	ForceUpdate(ctx context.Context) error
}

// sameOrigin refuses a browser's request from another site: a page elsewhere could not add the token header
// without a CORS preflight this listener never answers, but Origin (and Sec-Fetch-Site) make the refusal
// explicit. Clients that are not browsers send neither.
func sameOrigin(r *web.Request) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errors.New("cross-site request refused")
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host != r.Host {
		return errors.New("cross-origin request refused: its Origin is not this listener")
	}
	return nil
}
