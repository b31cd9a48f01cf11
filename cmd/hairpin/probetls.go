//go:build !notlsserver

package main

import (
	"net"
	"net/http"
)

// serveTLS serves hs over HTTPS; builds tagged notlsserver have none (probetls_off.go).
var serveTLS = func(hs *http.Server, l net.Listener, certFile, keyFile string) error {
	return hs.ServeTLS(l, certFile, keyFile)
}
