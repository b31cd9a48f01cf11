//go:build !notlsserver

package main

import (
	"net"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// serveTLS serves hs over HTTPS; builds tagged notlsserver have none (probetls_off.go).
var serveTLS = func(hs *web.Server, l net.Listener, certFile, keyFile string) error {
	return hs.ServeTLS(l, certFile, keyFile)
}
