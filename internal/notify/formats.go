package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// maxText bounds a message's text: Discord takes 2,000 characters, the others more.
const maxText = 1900

// JSONMessage is the body of the generic json format (docs/notify.md documents it).
type JSONMessage struct {
	Event    string            `json:"event"`
	Time     time.Time         `json:"time"`
	Hostname string            `json:"hostname"`
	Message  string            `json:"message"`
	Details  map[string]string `json:"details,omitempty"`
}

// text is the human form of a message: what happened, and how many changes it sums up.
func (t *target) text(msg *pendingMsg) string {
	s := msg.ev.Message
	if msg.from != "" {
		s += " (was " + msg.from + ")"
	}
	if msg.count > 1 {
		s += fmt.Sprintf(" (the latest of %d changes in %s)", msg.count, t.n.opts.Window.Round(time.Second))
	}
	return truncate(s, maxText)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (t *target) title(ev Event) string {
	return fmt.Sprintf("hairpin on %s: %s", t.n.opts.Hostname, strings.ReplaceAll(ev.Kind, "_", " "))
}

// request shapes msg for the target's service, as each service documents its webhook.
func (t *target) request(ctx context.Context, msg *pendingMsg) (*web.Request, error) {
	ev, text := msg.ev, t.text(msg)
	u := t.url.String()
	post := func(v any) (*web.Request, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return newRequest(ctx, web.MethodPost, u, b, "application/json")
	}
	switch t.entry.Format {
	case "ntfy":
		// ntfy: the body is the message; title, priority and tags go in headers.
		req, err := newRequest(ctx, web.MethodPost, u, []byte(text), "text/plain; charset=utf-8")
		if err != nil {
			return nil, err
		}
		req.Header.Set("Title", t.title(ev))
		if ev.Severe {
			req.Header.Set("Priority", "high")
			req.Header.Set("Tags", "warning")
		} else {
			req.Header.Set("Priority", "default")
			req.Header.Set("Tags", "information_source")
		}
		return req, nil
	case "gotify":
		prio := 4
		if ev.Severe {
			prio = 8
		}
		return post(map[string]any{"title": t.title(ev), "message": text, "priority": prio})
	case "discord":
		// No mentions: a hostname or an answer quoted in the text must not ping @everyone.
		return post(map[string]any{"content": t.title(ev) + "\n" + text, "username": "hairpin",
			"allowed_mentions": map[string]any{"parse": []string{}}})
	case "slack":
		return post(map[string]any{"text": t.title(ev) + "\n" + text})
	case "telegram":
		return post(map[string]any{"chat_id": t.entry.ChatID, "text": t.title(ev) + "\n" + text, "link_preview_options": map[string]any{"is_disabled": true}})
	case "healthchecks":
		return t.heartbeat(ctx, ev)
	default:
		details := ev.Details
		if msg.count > 1 || msg.from != "" {
			details = make(map[string]string, len(ev.Details)+2)
			for k, v := range ev.Details {
				details[k] = v
			}
			if msg.count > 1 {
				details["changes"] = fmt.Sprint(msg.count)
			}
			if msg.from != "" {
				details["previous"] = msg.from
			}
		}
		return post(JSONMessage{Event: ev.Kind, Time: ev.Time.UTC(), Hostname: t.n.opts.Hostname, Message: text, Details: details})
	}
}

// heartbeat is a healthchecks ping: the URL itself while all is well, URL/fail with the reason as the body when
// something is red. An Uptime Kuma push URL (/api/push/TOKEN) takes status=up|down and msg in its query
// instead.
func (t *target) heartbeat(ctx context.Context, ev Event) (*web.Request, error) {
	u := *t.url
	if strings.Contains(u.Path, "/api/push/") {
		q := u.Query()
		q.Set("status", "up")
		q.Set("msg", "OK")
		if ev.Severe {
			q.Set("status", "down")
			q.Set("msg", truncate(ev.Message, 200))
		}
		u.RawQuery = q.Encode()
		return newRequest(ctx, web.MethodGet, u.String(), nil, "")
	}
	if !ev.Severe {
		return newRequest(ctx, web.MethodGet, u.String(), nil, "")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/fail"
	u.RawPath = ""
	return newRequest(ctx, web.MethodPost, u.String(), []byte(truncate(ev.Message, maxText)), "text/plain; charset=utf-8")
}
