package routeros

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// Kind says what went wrong talking to the router, so callers (and the status page) can react without
// matching message text.
type Kind int

// Kinds of Error.
const (
	// Unreachable: no HTTP answer at all (refused, timed out, DNS, TLS handshake failure other than the
	// certificate).
	Unreachable Kind = iota + 1
	// Unauthorized: the router answered 401 or 403.
	Unauthorized
	// CertMismatch: the router's certificate is not the pinned one, or does not verify.
	CertMismatch
	// APIError: RouterOS refused the request with its JSON error body.
	APIError
	// BadReply: the answer was not RouterOS REST JSON (wrong URL, a proxy, a captive portal...).
	BadReply
)

func (k Kind) String() string {
	switch k {
	case Unreachable:
		return "unreachable"
	case Unauthorized:
		return "unauthorized"
	case CertMismatch:
		return "certificate mismatch"
	case APIError:
		return "RouterOS error"
	case BadReply:
		return "bad reply"
	}
	return "unknown"
}

// Error is every failure of a request to the router. Its message names the request, what happened and how to
// fix it; it never contains the password.
type Error struct {
	Kind Kind
	// Op is the request, e.g. "PUT /ip/firewall/nat".
	Op string
	// Status is the HTTP status (0 when there was no answer).
	Status int
	// Message and Detail are RouterOS's "message" and "detail" for APIError.
	Message, Detail string
	// Got is the fingerprint the router presented, for CertMismatch.
	Got string
	// Fix tells the user what to do.
	Fix string
	Err error
}

func (e *Error) Error() string {
	var what string
	switch e.Kind {
	case APIError:
		what = fmt.Sprintf("router refused it: %d %s", e.Status, e.Message)
		if e.Detail != "" {
			what += ": " + e.Detail
		}
	case Unauthorized:
		what = fmt.Sprintf("router rejected the login (%d %s)", e.Status, web.StatusText(e.Status))
		if e.Status == web.StatusForbidden {
			what = "router refused the request: the user lacks permissions (403 Forbidden)"
		}
	case CertMismatch:
		what = "router's certificate is not the expected one"
		if e.Got != "" {
			what += " (it presented " + e.Got + ")"
		}
	case Unreachable:
		what = "cannot reach the router"
		if e.Err != nil {
			what += ": " + e.Err.Error()
		}
	default:
		what = e.Kind.String()
		if e.Err != nil {
			what += ": " + e.Err.Error()
		}
	}
	s := "routeros " + e.Op + ": " + what
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// IsUnreachable reports whether err means the router did not answer.
func IsUnreachable(err error) bool { return kindOf(err) == Unreachable }

// IsUnauthorized reports whether the router rejected the username or password (401) or the user lacks a
// policy (403).
func IsUnauthorized(err error) bool { return kindOf(err) == Unauthorized }

// IsCertMismatch reports whether the router's certificate did not match the pin or did not verify.
func IsCertMismatch(err error) bool { return kindOf(err) == CertMismatch }

// IsAPIError reports whether RouterOS answered with an error body (bad parameters, missing item...).
func IsAPIError(err error) bool { return kindOf(err) == APIError }

// IsNotFound reports whether RouterOS said the item does not exist (404): someone removed it meanwhile.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == APIError && e.Status == web.StatusNotFound
}

// fixFor suggests the usual cure for a RouterOS error reply.
func fixFor(status int, detail string) string {
	switch {
	case status == web.StatusNotFound:
		return "the item was removed meanwhile; the next reconcile recreates what hairpin needs"
	case strings.HasPrefix(detail, "no such command"):
		return "RouterOS has no such command or menu here: the REST API needs RouterOS v7 (hairpin's requests are checked against the schema of " +
			CheckedReleases + "); on such a release it means a package providing the menu is disabled, or the release changed the menu: report it with the version /system resource print shows"
	case status >= 500:
		return "the router had an internal error; hairpin retries on the next reconcile"
	}
	return "hairpin retries on the next reconcile; if it persists, report it with the router's RouterOS version"
}
