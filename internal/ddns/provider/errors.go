package provider

import (
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// The kinds of failure. Test with errors.Is; an *Error matches its Kind, and ErrAuth when Auth is set.
var (
	// ErrHold: the provider refused in a way that repeating cannot fix (bad credentials, unknown host, abuse
	// block). Updates for the hostname stop until its config changes.
	ErrHold = errors.New("held until the config changes")
	// ErrAuth: the provider rejected the credentials. Always also ErrHold.
	ErrAuth = errors.New("authentication failed")
	// ErrRetryLater: the provider has trouble of its own and asked, by code or by protocol, for a pause of at
	// least RetryAfter.
	ErrRetryLater = errors.New("provider asked to retry later")
	// ErrTransient: the network or the server failed in passing; retry with exponential backoff.
	ErrTransient = errors.New("transient failure")
	// ErrWarning is not a failure: the provider accepted the update, but its answer says something the user
	// should see (dyndns2 "good 192.0.2.1" for another address than the one sent). The engine records success
	// and shows Msg as a warning.
	ErrWarning = errors.New("accepted with a warning")
)

// ServerTrouble is the pause after a provider reports trouble of its own: the dyndns2 protocol requires at
// least 30 minutes after dnserr or 911, and the same courtesy is extended to other providers' 5xx answers.
const ServerTrouble = 30 * time.Minute

// Error is a failed update.
type Error struct {
	Kind       error // ErrHold, ErrRetryLater, ErrTransient or ErrWarning
	Auth       bool
	Answer     string        // the provider's answer, sanitized
	RetryAfter time.Duration // with ErrRetryLater
	Msg        string        // what it means for the user
	Err        error         // cause, if any; never carries a secret
	// HoldAfter, on a transient error, marks a refusal that could have been forged (an unsigned DNS answer)
	// but is meant when it comes HoldAfter times in a row: the engine counts the row in the hostname's saved
	// state, across restarts and `hairpin ddns update` runs, and holds (a credentials hold, for HoldMsg's
	// reason) at the last. Any other outcome ends the row.
	HoldAfter int
	HoldMsg   string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Answer != "" {
		s = e.Answer + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrAuth) and errors.Is(err, ErrHold) work without string matching.
func (e *Error) Is(target error) bool {
	return target == e.Kind || (e.Auth && (target == ErrAuth || target == ErrHold))
}

// Hold is a refusal that stops updates until the config changes. Hold and the constructors after it are not
// inlined: the providers build their errors at about 80 places, and a copy at each grew the router build by
// ~15 KB.
//
//go:noinline
func Hold(answer, msg string) *Error {
	return &Error{Kind: ErrHold, Answer: Clean(answer), Msg: msg}
}

// AuthHold is a credentials refusal; it holds like Hold.
//
//go:noinline
func AuthHold(answer, msg string) *Error {
	return &Error{Kind: ErrHold, Auth: true, Answer: Clean(answer), Msg: msg}
}

// RetryLater asks the engine to wait at least after.
//
//go:noinline
func RetryLater(answer string, after time.Duration, msg string) *Error {
	return &Error{Kind: ErrRetryLater, Answer: Clean(answer), RetryAfter: after, Msg: msg}
}

// Warn is an accepted update with a warning for the user.
//
//go:noinline
func Warn(answer, msg string) *Error {
	return &Error{Kind: ErrWarning, Answer: Clean(answer), Msg: msg}
}

// Transient wraps a passing failure, typically from the network. URLs inside err lose their query string and
// user info, since tokens travel there.
//
//go:noinline
func Transient(msg string, err error) *Error {
	return &Error{Kind: ErrTransient, Msg: msg, Err: RedactURL(err)}
}

// IsAuth reports whether err is a credentials refusal.
func IsAuth(err error) bool { return errors.Is(err, ErrAuth) }

// IsHold reports whether err stops updates until the config changes.
func IsHold(err error) bool { return errors.Is(err, ErrHold) }

// IsRetryLater reports whether the provider asked for a pause.
func IsRetryLater(err error) bool { return errors.Is(err, ErrRetryLater) }

// RedactURL rewrites a *url.Error so that its URL keeps only scheme, host and path: net/http puts the full
// request URL in its errors, and DuckDNS, for one, takes its token in the query string.
func RedactURL(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	safe := "(url)"
	if perr == nil {
		u.RawQuery, u.User, u.Fragment = "", nil, ""
		safe = u.String()
	}
	return errfmt.Errorf("%s %s: %w", ue.Op, safe, ue.Err)
}

// MaxWait caps every wait a provider asks for or a state file holds: a wrong clock or a hostile server must not
// pause a hostname for longer than a day.
const MaxWait = 24 * time.Hour

// MaxAnswer bounds an answer as a provider hands it to the engine. The engine cuts it to 64 characters only
// after scrubbing every secret from it: cutting first could leave the start of a secret behind.
const MaxAnswer = 1024

// Clean makes a provider's answer fit for one log field: the first line, printable characters only, at most
// MaxAnswer of them. Providers answer with anything from a code word to an HTML error page.
func Clean(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > MaxAnswer {
		s = string(r[:MaxAnswer]) + "…"
	}
	return s
}

// Sanitize is Clean cut to 64 characters, for showing. Call it only on text already scrubbed of secrets.
func Sanitize(s string) string {
	s = Clean(s)
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64]) + "…"
	}
	return s
}
