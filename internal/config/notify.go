package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Notification events a notify entry may choose. An entry without events gets all of them.
var NotifyEvents = []string{"wan_address", "public_address", "dns_updated", "dns_failed", "reachability",
	"forward_down", "forward_up", "upstream", "daemon"}

// Notification formats: how the message is shaped for the receiving service.
var NotifyFormats = []string{"json", "ntfy", "gotify", "discord", "slack", "telegram", "healthchecks"}

// MaxNotify bounds the notify entries: each is a worker and a queue.
const MaxNotify = 16

// Notify is one notification target. Exactly one of URL, URLFile and URLEnv is set: a URL that carries a
// token (a Discord or Slack webhook, a Telegram bot, a gotify app token) belongs in a file or the environment,
// and is then checked when the daemon reads it.
type Notify struct {
	URL     string
	URLFile string
	URLEnv  string
	// Events lists the events sent; empty means all (healthchecks ignores it: it pings on each resync).
	Events []string
	Format string
	// ChatID is the Telegram chat the bot writes to.
	ChatID string
	Line   int
	// ConfigDir and SecretOwners locate and check URLFile (like DDNS secrets).
	ConfigDir    string
	SecretOwners []int
}

// Wants reports whether the entry sends event.
func (n Notify) Wants(event string) bool {
	if len(n.Events) == 0 {
		return true
	}
	for _, e := range n.Events {
		if e == event {
			return true
		}
	}
	return false
}

func (d *decoder) notify(n *yaml.Node, path string) []Notify {
	items := d.sequence(n, path)
	if len(items) > MaxNotify {
		d.errorf(items[MaxNotify], fmt.Sprintf("%s[%d]", path, MaxNotify), "send to fewer places, or fan out at one of them (ntfy, a webhook relay)",
			"more than %d notify entries", MaxNotify)
		items = items[:MaxNotify]
	}
	var out []Notify
	for i, c := range items {
		key := fmt.Sprintf("%s[%d]", path, i)
		e := Notify{Format: "json", Line: c.Line}
		given := map[string]*yaml.Node{}
		if !d.mapping(c, key, map[string]field{
			"url": func(k string, v *yaml.Node) {
				given[k] = v
				if s, ok := d.str(v, k); ok {
					if err := CheckNotifyURL(s); err != nil {
						d.errorf(v, k, "use https://..., or http:// to an address on this machine or the LAN", "%v", err)
						return
					}
					e.URL = s
				}
			},
			"url_file": func(k string, v *yaml.Node) {
				given[k] = v
				if s, ok := d.str(v, k); ok {
					if !strings.HasPrefix(s, "/") {
						d.errorf(v, k, "give an absolute path such as /etc/hairpin/discord.url", "%q is not an absolute path", s)
						return
					}
					e.URLFile = s
				}
			},
			"url_env": func(k string, v *yaml.Node) { given[k] = v; e.URLEnv, _ = d.str(v, k) },
			"format":  func(k string, v *yaml.Node) { e.Format, _ = d.oneOf(v, k, NotifyFormats...) },
			"chat_id": func(k string, v *yaml.Node) { given[k] = v; e.ChatID, _ = d.str(v, k) },
			"events": func(k string, v *yaml.Node) {
				given[k] = v
				for j, ev := range d.sequence(v, k) {
					if s, ok := d.oneOf(ev, fmt.Sprintf("%s[%d]", k, j), NotifyEvents...); ok {
						e.Events = append(e.Events, s)
					}
				}
			},
		}) {
			continue
		}
		if urls := countGiven(given, key, "url", "url_file", "url_env"); urls != 1 {
			d.errorf(c, key+".url", "give exactly one of url, url_file (a file holding the URL) and url_env (an environment variable holding it)",
				"%d of url, url_file and url_env are set", urls)
		}
		if e.Format == "telegram" && e.ChatID == "" {
			d.errorf(c, key+".chat_id", "add the chat's id, e.g. `chat_id: \"-1001234567890\"` (ask @userinfobot, or read getUpdates)", "telegram needs chat_id")
		}
		if e.Format != "telegram" && given[key+".chat_id"] != nil {
			d.errorf(given[key+".chat_id"], key+".chat_id", "remove it, or set format: telegram", "chat_id is only for telegram")
		}
		if e.Format == "healthchecks" && given[key+".events"] != nil {
			d.warnf(given[key+".events"], key+".events", "remove it: a healthchecks target is pinged on each resync, and told /fail when the status is red",
				"events do not apply to format healthchecks")
		}
		out = append(out, e)
	}
	return out
}

func countGiven(given map[string]*yaml.Node, prefix string, keys ...string) int {
	n := 0
	for _, k := range keys {
		if given[join(prefix, k)] != nil {
			n++
		}
	}
	return n
}

// CheckNotifyURL accepts https to anywhere, and plain http only to a loopback or private (LAN) address: a
// notification says what the router's address is, which must not cross the internet in clear text. The daemon
// checks URLs read from files and the environment the same way.
func CheckNotifyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errfmt.Errorf("not a URL: %v", strings.TrimPrefix(err.Error(), "parse "+fmt.Sprintf("%q", s)+": "))
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return errfmt.Errorf("not an http(s) URL without credentials and fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if u.Hostname() == "localhost" {
			return nil
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && (a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()) {
			return nil
		}
		return errfmt.Errorf("plain http goes only to a loopback or LAN address, not %s", u.Hostname())
	default:
		return errfmt.Errorf("scheme %q is not https", u.Scheme)
	}
}
