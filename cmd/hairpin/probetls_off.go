//go:build notlsserver

package main

import (
	"net"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// serveTLS is nil in the mips and mipsle router builds (scripts/goenv.sh): Go's TLS server weighs 0.17 MB, only
// `probe-server --tls-cert` needs it, and a probe server runs at a second site or on a VPS, not on a 16 MB MIPS
// router. probe-server refuses --tls-cert there and says what to do instead.
var serveTLS func(hs *web.Server, l net.Listener, certFile, keyFile string) error
