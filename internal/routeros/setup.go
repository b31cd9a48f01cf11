package routeros

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Policies is exactly what hairpin's REST user needs: read and write for its items, api and rest-api for the
// REST API itself. The simulator answers 403 without any one of them, as a router does.
var Policies = []string{"read", "write", "api", "rest-api"}

// SetupCertName is the name of the certificate SetupScript creates for the www-ssl service.
const SetupCertName = "hairpin-www"

// SetupScript writes the RouterOS commands that prepare a router for the config's routeros: section: a group
// with exactly Policies, the user in it, a self-signed certificate naming the address hairpin connects to
// (subject-alt-name, which a certificate check compares), and the www-ssl service on that certificate. Nothing
// is sent to the router.
func SetupScript(cfg *config.Config) (string, error) {
	r := cfg.RouterOS
	if r == nil {
		return "", errors.New("the config has no routeros: section: add url, username and password_file first")
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Hostname() == "" {
		return "", errfmt.Errorf("routeros.url %q names no router", r.URL)
	}
	host := u.Hostname()
	san := "DNS:" + host
	if a, err := netip.ParseAddr(host); err == nil {
		san = "IP:" + a.String()
	}
	group := r.Username
	secret := "$" + r.PasswordEnv
	if r.PasswordFile != "" {
		secret = r.PasswordFile
	}
	var b strings.Builder
	w := func(format string, args ...any) { line(&b, format, args...) }
	w("# hairpin routeros setup for %s (%s): paste into the router's terminal as an admin.", host, cfg.File)
	w("# Checked against the command schema of RouterOS %s; not tried on a real router.", CheckedReleases)
	w("")
	w("# 1. A group with exactly the policies hairpin needs: read and write for its rules, lists and scripts, api and")
	w("#    rest-api for the REST API. Nothing else: no ssh, winbox, web, policy, password or sensitive.")
	w("/user group add name=%s policy=%s comment=%s", quote(group), strings.Join(Policies, ","), quoteAlways("hairpin's REST API user"))
	w("")
	w("# 2. The user. Replace PASSWORD with the password in %s (make one with", secret)
	w("#    `head -c 24 /dev/urandom | base64`); hairpin reads it from there, never from the config.")
	w("#    Add address=HAIRPIN-HOST/32 to accept this login from hairpin's machine only.")
	w("/user add name=%s group=%s password=PASSWORD comment=%s", quote(r.Username), quote(group), quoteAlways("hairpin"))
	w("")
	w("# 3. A certificate for the REST API (www-ssl) that names %s, the address in routeros.url: a", host)
	w("#    certificate check compares subject-alt-name, not common-name. Self-signed; hairpin pins it (step 5).")
	w("/certificate add name=%s common-name=%s subject-alt-name=%s key-usage=digital-signature,key-encipherment,tls-server days-valid=3650",
		SetupCertName, quote(host), quote(san))
	w("/certificate sign %s", SetupCertName)
	w("")
	w("# 4. The www-ssl service on it. Add address=HAIRPIN-HOST/32 to answer hairpin's machine only.")
	w("/ip service set www-ssl certificate=%s disabled=no", SetupCertName)
	w("")
	w("# 5. Then pin the certificate: `hairpin routeros setup --fingerprint -c %s` reads it from the router", cfg.File)
	w("#    and prints the routeros.tls_fingerprint line; compare it with the fingerprint the router shows for it:")
	w("#      /certificate print detail where name=%s", SetupCertName)
	w("#    then `hairpin apply -c %s`: every REST request from then on checks that certificate.", cfg.File)
	return b.String(), nil
}

// ReadFingerprint connects to the router once, without verifying anything, and returns the SHA-256 of the
// certificate it presents, in the form routeros.tls_fingerprint takes. It is trust on first use: the value is
// worth pinning only once compared with what the router's own console shows.
func ReadFingerprint(ctx context.Context, cfg *config.RouterOS) (string, error) {
	if cfg == nil {
		return "", errors.New("the config has no routeros: section")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" {
		return "", errfmt.Errorf("routeros.url %q is not https://: there is no certificate to pin", cfg.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second},
		// Only to read the certificate: nothing is sent over this connection.
		Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // read-only, see above
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", errfmt.Errorf("reading the certificate of %s: %w (is www-ssl enabled with a certificate?)", addr, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errfmt.Errorf("%s presented no certificate", addr)
	}
	sum := sha256.Sum256(certs[0].Raw)
	return config.FormatFingerprint(sum[:]), nil
}
