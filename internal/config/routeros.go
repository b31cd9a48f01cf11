package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// RouterOS is how to reach a MikroTik router's REST API when backend is routeros.
type RouterOS struct {
	URL          string
	Username     string
	PasswordFile string
	PasswordEnv  string
	// TLSFingerprint pins the router's certificate ("sha256:AB:CD:..."); CAFile trusts a CA instead.
	TLSFingerprint string
	CAFile         string
	PollInterval   time.Duration
	Line           int
}

func (d *decoder) routeros(n *yaml.Node, path string) *RouterOS {
	r := &RouterOS{Line: n.Line, PollInterval: 10 * time.Second}
	str := func(dst *string) field { return func(k string, v *yaml.Node) { *dst, _ = d.str(v, k) } }
	d.mapping(n, path, map[string]field{
		"url":             str(&r.URL),
		"username":        str(&r.Username),
		"password_file":   str(&r.PasswordFile),
		"password_env":    str(&r.PasswordEnv),
		"tls_fingerprint": str(&r.TLSFingerprint),
		"ca_file":         str(&r.CAFile),
		"poll_interval": func(k string, v *yaml.Node) {
			if t, ok := d.duration(v, k, time.Second); ok {
				r.PollInterval = t
			}
		},
	})
	return r
}
