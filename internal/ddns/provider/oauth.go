package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// OAuthToken gets and keeps an OAuth 2.0 access token from a token endpoint (RFC 6749 section 4.4 and RFC
// 7523: a form POST answered with {access_token, expires_in}), renewing it a minute before it expires.
type OAuthToken struct {
	// Endpoint is the token endpoint; Form the grant (client credentials, or a JWT assertion).
	Endpoint string
	Form     func() (url.Values, error)
	// Vendor names the endpoint in messages; Refused is what a refusal (400, 401, 403) means for the user.
	Vendor, Refused string

	mu      lock.Mutex
	token   string
	expires time.Time
}

// Bearer puts a current token on req, asking the endpoint for one when needed.
func (o *OAuthToken) Bearer(ctx context.Context, env Env, req *web.Request) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token == "" || time.Now().After(o.expires) {
		form, err := o.Form()
		if err != nil {
			return Hold("", "building the token request: "+err.Error())
		}
		treq, err := web.NewRequest(context.Background(), web.MethodPost, o.Endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return Hold("", "the token endpoint is not a URL")
		}
		treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, header, body, err := DoHeader(ctx, env, treq)
		if err != nil {
			return err
		}
		if status == web.StatusBadRequest || status == web.StatusUnauthorized || status == web.StatusForbidden {
			var e struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(body, &e)
			return AuthHold(fmt.Sprintf("HTTP %d %s", status, e.Error), o.Refused)
		}
		if err := (&API{Vendor: o.Vendor}).Judge(status, header, body); err != nil {
			return err
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
			return RetryLater("no access_token", ServerTrouble, o.Vendor+" answered without a token")
		}
		if env.Sensitive != nil {
			env.Sensitive(tok.AccessToken)
		}
		o.token, o.expires = tok.AccessToken, time.Now().Add(time.Duration(max(tok.ExpiresIn-60, 0))*time.Second)
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	return nil
}

// FirstZone returns the first of the hostname's zone candidates (longest first) for which exists does not
// answer not found: APIs that address a zone by name and answer 404 for a name that is none.
func FirstZone(ctx context.Context, hostname, vendor string, exists func(ctx context.Context, zone string) error) (string, error) {
	for _, c := range ZoneCandidates(hostname) {
		err := exists(ctx, c)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		return c, nil
	}
	return "", NoZone(vendor, hostname)
}
