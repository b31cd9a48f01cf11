// Package preflight reads, now, every secret the daemon will read when it starts: DNS passwords, tokens and
// TSIG keys, the RouterOS password, the status listener's control token, the probe's shared secret and
// notification URLs kept in files. `hairpin check` and `hairpin doctor` run it, so that a config whose secrets
// cannot be read fails before the daemon starts rather than running half-working. It reads the same way the
// daemon does (the same functions), sends nothing anywhere, and never puts a secret in what it returns.
package preflight

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/routeros"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

const hint = "create the file (one line, chmod 600) or set the variable where hairpin runs; --no-secrets skips this check"

// Secrets returns a line-numbered error for each secret that cannot be read or parsed, and a warning for each
// that can but should not be (a file others can read).
func Secrets(cfg *config.Config) (errs, warns config.Errors) {
	c := &issues{file: cfg.File}
	at := func(line int, key string) func(error) {
		return func(err error) { c.fail(line, key, err) }
	}
	warner := c.warner
	for i, ent := range cfg.DDNS {
		key := fmt.Sprintf("ddns[%d] (%s)", i, ent.Hostname)
		if err := ddns.Check(ent, warner(ent.Line, key)); err != nil {
			at(ent.Line, key)(err)
		}
	}
	if r := cfg.RouterOS; r != nil {
		if _, err := routeros.ReadPassword(r, warner(r.Line, "routeros")); err != nil {
			at(r.Line, "routeros")(err)
		}
	}
	for i, n := range cfg.Notify {
		key := fmt.Sprintf("notify[%d]", i)
		if err := notify.Check(n, warner(n.Line, key)); err != nil {
			at(n.Line, key)(err)
		}
	}
	opts := func(line int, key string) secret.Options {
		w := warner(line, key)
		return secret.Options{ConfigDir: filepath.Dir(cfg.File), Owners: cfg.SecretOwners,
			Warn: func(msg string, args ...any) { w.Warn(msg, args...) }}
	}
	if p := cfg.WAN.Probe; p != nil {
		if _, err := probe.ReadSecret(p.SecretFile, p.SecretEnv, opts(p.Line, "wan.probe")); err != nil {
			at(p.Line, "wan.probe")(err)
		}
	}
	if d := cfg.Daemon; d.Control && d.ControlTokenFile != "" {
		if _, err := secret.Read(d.ControlTokenFile, opts(d.ControlTokenLine, "daemon.control_token_file")); err != nil {
			at(d.ControlTokenLine, "daemon.control_token_file")(err)
		}
	}
	return c.errs, c.warns
}

// issues collects Secrets' errors and warnings. Its methods are not inlined: Secrets calls them for every kind
// of secret, and a copy at each call grew the router build.
type issues struct {
	file        string
	errs, warns config.Errors
}

//go:noinline
func (c *issues) fail(line int, key string, err error) {
	c.errs = append(c.errs, config.Issue{File: c.file, Line: max(line, 1), Col: 1, Key: key, Problem: err.Error(), Hint: hint})
}

// warner is a logger whose warnings about a secret's file become warnings of the check.
//
//go:noinline
func (c *issues) warner(line int, key string) *slog.Logger {
	return slog.New(&collector{add: func(msg string) {
		// Only what the secret readers warn about: the rest (plain http, ...) the config's own checks say.
		if !strings.Contains(msg, "readable by") {
			return
		}
		c.warns = append(c.warns, config.Issue{File: c.file, Line: max(line, 1), Col: 1, Key: key, Problem: msg,
			Hint: "chmod 600 the file: only root (or hairpin's user) should read it"})
	}})
}

// collector is a slog handler that keeps each warning's message and attributes as one line.
type collector struct {
	add   func(string)
	attrs []slog.Attr
}

func (c *collector) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *collector) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range c.attrs {
		add(a)
	}
	r.Attrs(add)
	c.add(b.String())
	return nil
}
func (c *collector) WithAttrs(as []slog.Attr) slog.Handler {
	return &collector{add: c.add, attrs: append(append([]slog.Attr{}, c.attrs...), as...)}
}
func (c *collector) WithGroup(string) slog.Handler { return c }
