// Package bind writes the configuration of BIND 9's named as the lab and the DNS tests run it: a primary for
// one zone, listening on one address, taking DNS UPDATE from the addresses and TSIG keys it is told, with
// nothing else on (no recursion, no DNSSEC validation, no NOTIFY, no control channel). One writer, so that a
// fix (a path named needs, an option a new BIND wants) reaches every copy of the server.
package bind

import (
	"fmt"
	"strings"
)

// Key is a TSIG key named accepts updates signed with (hmac-sha256).
type Key struct {
	Name   string
	Secret string // base64
}

// Conf is named.conf for zone, whose file is dir/ZONE.zone, with every file of named's in dir. Updates are
// allowed from the addresses in allowFrom and to requests signed with a key in keys.
func Conf(dir, listenIP string, port int, zone string, allowFrom []string, keys ...Key) string {
	var b strings.Builder
	var allow []string
	allow = append(allow, allowFrom...)
	for _, k := range keys {
		fmt.Fprintf(&b, "key %q { algorithm hmac-sha256; secret %q; };\n", k.Name, k.Secret)
		allow = append(allow, fmt.Sprintf("key %q", k.Name))
	}
	fmt.Fprintf(&b, `options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]d { %[3]s; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
zone "%[4]s" { type primary; file "%[1]s/%[4]s.zone"; allow-update { %[5]s; }; };
`, dir, port, listenIP, zone, strings.Join(allow, "; "))
	return b.String()
}
