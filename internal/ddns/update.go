package ddns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Backoff after transient failures: BackoffBase doubles with each failure in a row up to BackoffMax, and each
// wait is drawn from its upper half so that many routers losing the same network do not retry in step.
const (
	BackoffBase = 30 * time.Second
	BackoffMax  = 30 * time.Minute
)

// Why a hostname is waiting; persisted so a restart honours it.
const (
	waitBackoff  = "backoff"  // our own choice: a forced update may skip it
	waitProvider = "provider" // the provider asked: nothing skips it
)

func backoff(failures int) time.Duration {
	d := BackoffMax
	if failures < 16 {
		d = min(BackoffBase<<(failures-1), BackoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// attempt sends the current address for h if it is due, records the outcome and returns how long until h
// should be tried again (0: only when woken). err is why nothing was accepted; the worker ignores it.
func (e *Engine) attempt(ctx context.Context, h *host, force bool) (time.Duration, error) {
	h.send.Lock() // one update of h at a time; h.mu is held only briefly so that Status never waits on a provider
	defer h.send.Unlock()
	addr := e.addressFor(h)
	h.mu.Lock()
	st, newNetwork := h.st, h.newNetwork
	h.mu.Unlock()
	switch {
	case !addr.IsValid():
		return 0, nil
	case e.withholding(h) != "":
		return 0, &provider.Error{Kind: provider.ErrRetryLater, Msg: "withheld: " + e.withholding(h) + " (publish: always sends it anyway)"}
	case st.Held:
		return 0, &provider.Error{Kind: provider.ErrHold, Auth: st.Auth,
			Msg: fmt.Sprintf("held since %s: %s (change the entry's config or secret, or delete %s)",
				st.HeldSince.Format(time.RFC3339), st.Reason, h.file)}
	case addr == st.LastAddress && !st.InDoubt && !force:
		return 0, nil
	}
	// other is the pair's address that goes in the same request: the AAAA's beside the A, or the A's beside
	// the AAAA. An AAAA never goes without its A, which the provider would otherwise move or delete.
	var other netip.Addr
	if h.pair != nil {
		other = e.pairAddress(h.pair)
		if h.v6 && !other.IsValid() {
			return 0, &provider.Error{Kind: provider.ErrRetryLater, Msg: "the AAAA record goes out beside the A record, which is not published now"}
		}
	}
	now := e.clock.Now()
	if now.Before(st.NextRetry) && (!force && !newNetwork || st.Wait == waitProvider) {
		return st.NextRetry.Sub(now), &provider.Error{Kind: provider.ErrRetryLater,
			Msg: fmt.Sprintf("not before %s: %s", st.NextRetry.Format(time.RFC3339), st.Reason)}
	}
	uctx, cancel := context.WithTimeout(ctx, UpdateTimeout)
	uctx, abort := context.WithCancelCause(uctx)
	h.mu.Lock()
	h.abort, h.sending, h.newNetwork = abort, addr, false
	h.mu.Unlock()
	if now := e.addressFor(h); now.IsValid() && now != addr { // moved since read: SetAddress may have looked before abort was set
		abort(errAddressMoved)
	}
	var answer string
	var err error
	switch {
	case h.pair == nil:
		answer, err = h.p.Update(uctx, addr)
	case h.v6:
		answer, err = h.p.(provider.Paired).UpdatePair(uctx, other, addr)
	default:
		answer, err = h.p.(provider.Paired).UpdatePair(uctx, addr, other)
	}
	h.mu.Lock()
	h.abort = nil
	h.mu.Unlock()
	aborted := context.Cause(uctx) == errAddressMoved
	abort(nil)
	cancel()
	if err != nil && (ctx.Err() != nil || aborted) {
		// The update may have reached the provider before it was cut short: whatever the record holds now, the
		// next attempt asks, even for the address accepted last.
		e.doubt(h)
		if h.pair != nil {
			e.doubt(h.pair)
		}
	}
	if err != nil && ctx.Err() != nil {
		return 0, ctx.Err() // shutting down: not the provider's failure
	}
	if err != nil && aborted {
		// Not the provider's failure either, and no reason to back off: the address this update carried is
		// gone, and SetAddress has woken the worker to send the new one.
		return 0, errAddressMoved
	}
	err = e.clean(err)
	h.mu.Lock()
	err = repeated(h, err)
	// The outcome is dated when it arrived: an update may take up to UpdateTimeout, and a retry planned from
	// the time it was sent would show in status as earlier than the failure.
	wait := e.record(h, addr, answer, err, e.clock.Now())
	st = h.st
	h.mu.Unlock()
	e.save(h.file, st)
	e.report(h, addr, st)
	switch {
	case other.IsValid() && (err == nil || errors.Is(err, provider.ErrWarning)):
		e.recordPair(h.pair, other, st)
		e.report(h.pair, other, st)
	case h.pair != nil && err != nil && !errors.Is(err, provider.ErrWarning):
		// The provider's answer is about the hostname and the credentials, not one family: a hold or a pause
		// it asked for binds the pair's next request too.
		p := h.pair
		p.mu.Lock()
		e.record(p, e.addressFor(p), answer, err, e.clock.Now())
		pst := p.st
		p.mu.Unlock()
		e.save(p.file, pst)
		e.report(p, e.addressFor(p), pst)
	}
	if errors.Is(err, provider.ErrWarning) {
		return wait, nil // accepted; the warning is in status and the log
	}
	return wait, err
}

// doubt marks h's record in doubt (state.InDoubt) and saves it; h's send lock is held.
func (e *Engine) doubt(h *host) {
	h.mu.Lock()
	h.st.InDoubt = true
	st := h.st
	h.mu.Unlock()
	e.save(h.file, st)
}

// pairAddress is what p, the pair of the host sending, adds to the request: its address, unless it is not
// to be published now (withheld, held, or none).
func (e *Engine) pairAddress(p *host) netip.Addr {
	if e.withholding(p) != "" {
		return netip.Addr{}
	}
	p.mu.Lock()
	held := p.st.Held
	p.mu.Unlock()
	if held {
		return netip.Addr{}
	}
	return e.addressFor(p)
}

// recordPair records for p the accepted request that carried its address addr beside its pair's, so that p
// does not send the same again: one request per change, whichever family changed. p's send lock is held (the
// pair shares it); st is the sending host's new state.
func (e *Engine) recordPair(p *host, addr netip.Addr, st state) {
	p.mu.Lock()
	ps := &p.st
	*ps = state{Version: ps.Version, Hostname: ps.Hostname, Provider: ps.Provider, ConfigHash: ps.ConfigHash,
		LastAddress: addr, LastSent: st.LastSent, Answer: st.Answer, Warning: st.Warning, History: moved(ps.History, ps.LastAddress, addr, st.LastSent)}
	saved := *ps
	p.mu.Unlock()
	e.save(p.file, saved)
}

// clean makes err safe to log and show: an *Error with every secret scrubbed from its text, of the same kind so
// that errors.Is still works. Errors that are not an *Error are transient.
func (e *Engine) clean(err error) error {
	if err == nil {
		return nil
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return &provider.Error{Kind: provider.ErrTransient, Msg: e.scrub(err.Error())}
	}
	c := *pe
	c.Answer, c.Msg, c.HoldMsg = e.answer(c.Answer), e.scrub(c.Msg), e.scrub(c.HoldMsg)
	if c.Err != nil {
		c.Err = errors.New(e.scrub(c.Err.Error()))
	}
	return &c
}

// repeated counts, under h.mu, the refusals that hold only when they come several times in a row
// (provider.Error.HoldAfter) in h's state, which is saved: a provider lives only as long as one engine, and
// counted in the provider the row started again at every run, so it never held. The last of too many in a row
// becomes the hold; any other outcome ends the row.
func repeated(h *host, err error) error {
	pe, _ := err.(*provider.Error) // clean made every error one
	if pe == nil || pe.HoldAfter <= 0 || pe.Kind != provider.ErrTransient {
		h.st.Refusals = 0
		return err
	}
	h.st.Refusals++
	if h.st.Refusals < pe.HoldAfter {
		c := *pe
		c.Msg += fmt.Sprintf(" (%d of %d in a row before updates are held)", h.st.Refusals, pe.HoldAfter)
		return &c
	}
	held := provider.Hold(pe.Answer, pe.HoldMsg)
	held.Auth = true
	return held
}

// record updates h's state, under h.mu, after an update of addr (err already cleaned) and returns the wait before the next try.
func (e *Engine) record(h *host, addr netip.Addr, answer string, err error, now time.Time) time.Duration {
	st := &h.st
	log := e.log.With("hostname", h.entry.Hostname, "provider", h.entry.Provider, "address", addr.String())
	pe, _ := err.(*provider.Error) // clean made every error one
	if err == nil || pe.Kind == provider.ErrWarning {
		*st = state{Version: st.Version, Hostname: st.Hostname, Provider: st.Provider, ConfigHash: st.ConfigHash,
			LastAddress: addr, LastSent: now, Answer: e.answer(answer), History: moved(st.History, st.LastAddress, addr, now)}
		if pe != nil {
			st.Answer, st.Warning = pe.Answer, pe.Msg
			log.Warn("ddns: updated, with a WARNING", "answer", st.Answer, "warning", st.Warning)
			return 0
		}
		log.Info("ddns: updated", "answer", st.Answer)
		return 0
	}
	msg := err.Error()
	// A failure is no proof that nothing changed: a server may apply an update and fail to say so.
	st.Answer, st.LastError, st.InDoubt = pe.Answer, msg, true
	switch pe.Kind {
	case provider.ErrHold:
		st.Held, st.Auth, st.HeldSince, st.Reason, st.NextRetry, st.Wait = true, pe.Auth, now, msg, time.Time{}, ""
		log.Error("ddns: UPDATES HELD for this hostname until its config changes; the provider said repeating will not help",
			"answer", st.Answer, "reason", msg, "auth", pe.Auth, "state_file", h.file)
		return 0
	case provider.ErrRetryLater:
		wait := min(pe.RetryAfter, provider.MaxWait)
		if wait <= 0 {
			wait = provider.ServerTrouble
		}
		st.NextRetry, st.Wait, st.Reason = now.Add(wait), waitProvider, msg
		log.Warn("ddns: provider asked to retry later", "answer", st.Answer, "reason", msg, "next_retry", st.NextRetry)
		return wait
	default:
		st.Failures++
		wait := backoff(st.Failures)
		st.NextRetry, st.Wait, st.Reason = now.Add(wait), waitBackoff, msg
		log.Warn("ddns: update failed; backing off", "error", msg, "failures", st.Failures, "next_retry", st.NextRetry)
		return wait
	}
}

// scrub removes every secret the engine read from s, raw and URL-encoded, and the start of one (4 characters
// or more) where s was cut: a last line of defence behind providers that already keep secrets out of their
// errors.
func (e *Engine) scrub(s string) string {
	for _, sec := range e.secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, redacted)
		if q := url.QueryEscape(sec); q != sec {
			s = strings.ReplaceAll(s, q, redacted)
		}
	}
	for _, sec := range e.secrets {
		s = scrubCut(s, sec)
		if q := url.QueryEscape(sec); q != sec {
			s = scrubCut(s, q)
		}
	}
	return s
}

const redacted = "[redacted]"

// answer is a provider's answer made fit to log, show and save: scrubbed, then cut to 64 characters, then
// scrubbed again where the cut fell.
func (e *Engine) answer(s string) string { return e.scrub(provider.Sanitize(e.scrub(s))) }

// scrubCut replaces a prefix of sec, 4 characters or longer, that ends s or stands before a cut mark ("…").
func scrubCut(s, sec string) string {
	const mark = "…"
	var out strings.Builder
	rest := s
	for {
		i := strings.Index(rest, mark)
		end := len(rest)
		if i >= 0 {
			end = i
		}
		out.WriteString(cutTail(rest[:end], sec))
		if i < 0 {
			return out.String()
		}
		out.WriteString(mark)
		rest = rest[i+len(mark):]
	}
}

func cutTail(s, sec string) string {
	for k := min(len(sec)-1, len(s)); k >= 4; k-- {
		if strings.HasSuffix(s, sec[:k]) {
			return s[:len(s)-k] + redacted
		}
	}
	return s
}
