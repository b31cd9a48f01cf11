package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// target is one notify entry with its worker's queue: at most one pending message per subject.
type target struct {
	n       *Notifier
	entry   config.Notify
	url     *url.URL
	name    string   // scheme://host: what logs and status show
	secrets []string // parts of the URL scrubbed from error texts
	wake    chan struct{}

	mu      lock.Mutex
	pending map[string]*pendingMsg
	order   []string             // pending keys, oldest first
	last    map[string]time.Time // when each key was last sent
	sending bool
	sent    uint64
	failed  uint64
	dropped uint64
	// lastSent and lastErr are for status.
	lastSent time.Time
	lastErr  string
}

type pendingMsg struct {
	ev    Event
	count int       // events this message sums up; the latest one's text is sent
	from  string    // the first event's From: the state before the burst
	since time.Time // when the first event came
}

// key groups events that replace each other while they wait: a forward's down and up, one hostname's DNS
// results, each daemon message on its own.
func key(ev Event) string {
	k := ev.Kind
	switch ev.Kind {
	case ForwardDown, ForwardUp:
		k = "forward"
	case DNSUpdated, DNSFailed:
		k = "dns"
	}
	return k + "\x00" + ev.Subject
}

func (t *target) file(ev Event) {
	k := key(ev)
	t.mu.Lock()
	if p := t.pending[k]; p != nil {
		p.ev, p.count = ev, p.count+1
	} else if len(t.pending) >= maxPending {
		t.dropped++
		t.mu.Unlock()
		t.n.log.Warn("notify: queue full; message dropped", "target", t.name, "event", ev.Kind)
		return
	} else {
		t.pending[k] = &pendingMsg{ev: ev, count: 1, from: ev.From, since: time.Now()}
		t.order = append(t.order, k)
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// next picks the oldest pending message whose subject may send now (its burst settled, and a Window after
// the subject's last message); else it says when the first one may. t.mu is held.
func (t *target) next(now time.Time) (string, time.Time) {
	var first time.Time
	for _, k := range t.order {
		at := t.pending[k].since
		if !t.n.flushing.Load() {
			at = at.Add(t.n.opts.Settle)
		}
		if last := t.last[k]; !last.IsZero() && last.Add(t.n.opts.Window).After(at) {
			at = last.Add(t.n.opts.Window)
		}
		if !at.After(now) {
			return k, time.Time{}
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return "", first
}

func (t *target) dueNow(now time.Time) bool {
	k, _ := t.next(now)
	return k != ""
}

func (t *target) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		t.mu.Lock()
		k, at := t.next(now)
		var msg *pendingMsg
		if k != "" {
			msg = t.pending[k]
			delete(t.pending, k)
			for i, o := range t.order {
				if o == k {
					t.order = append(t.order[:i], t.order[i+1:]...)
					break
				}
			}
			t.sending = true
			// Forget subjects quiet for longer than the window, so the map stays as small as the queue.
			for lk, lt := range t.last {
				if now.Sub(lt) > t.n.opts.Window && t.pending[lk] == nil {
					delete(t.last, lk)
				}
			}
			t.last[k] = now
		}
		t.mu.Unlock()
		if msg != nil {
			t.deliver(ctx, msg)
			t.mu.Lock()
			t.sending = false
			t.mu.Unlock()
			continue
		}
		var due <-chan time.Time
		if !at.IsZero() {
			timer.Reset(at.Sub(now))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		case <-due:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// permanentError is an answer that repeating will not change (a 4xx other than 408 and 429).
type permanentError struct{ error }

func (t *target) deliver(ctx context.Context, msg *pendingMsg) {
	o := t.n.opts
	for attempt := 0; ; attempt++ {
		err := t.post(ctx, msg)
		t.mu.Lock()
		if err == nil {
			t.sent++
			t.lastSent, t.lastErr = time.Now(), ""
			t.mu.Unlock()
			t.n.log.Debug("notify: sent", "target", t.name, "event", msg.ev.Kind, "changes", msg.count)
			return
		}
		text := t.scrub(err.Error())
		t.lastErr = text
		var perm permanentError
		giveUp := errors.As(err, &perm) || attempt >= o.Retries || ctx.Err() != nil
		if giveUp {
			t.failed++
		}
		t.mu.Unlock()
		if giveUp {
			t.n.log.Warn("notify: message not delivered", "target", t.name, "event", msg.ev.Kind, "error", text, "attempts", attempt+1)
			return
		}
		wait := o.Backoff << attempt
		t.n.log.Debug("notify: send failed; retrying", "target", t.name, "event", msg.ev.Kind, "error", text, "retry_in", wait)
		select {
		case <-ctx.Done():
			t.mu.Lock()
			t.failed++
			t.mu.Unlock()
			return
		case <-time.After(wait):
		}
	}
}

func (t *target) post(ctx context.Context, msg *pendingMsg) error {
	req, err := t.request(ctx, msg)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "hairpin")
	resp, err := t.n.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return errfmt.Errorf("%s: %w", t.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = errfmt.Errorf("%s answered %s: %s", t.name, resp.Status, strings.TrimSpace(strings.ToValidUTF8(string(body), "")))
	if resp.StatusCode/100 == 4 && resp.StatusCode != web.StatusRequestTimeout && resp.StatusCode != web.StatusTooManyRequests {
		return permanentError{err}
	}
	return err
}

// scrub removes the URL and its token-like parts from s.
func (t *target) scrub(s string) string {
	for _, sec := range t.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

func newRequest(ctx context.Context, method, u string, body []byte, contentType string) (*web.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := web.NewRequest(ctx, method, u, r)
	if err != nil {
		return nil, errors.New("building the request failed")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}
