package webtest

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// ClientOf is srv.Client() for web: a client that trusts the certificate of srv, an httptest.Server (plain or
// TLS; or a type that embeds one), and nothing else.
func ClientOf(srv interface{ Certificate() *x509.Certificate }) *web.Client {
	c := &web.Client{}
	if cert := srv.Certificate(); cert != nil {
		roots := x509.NewCertPool()
		roots.AddCert(cert)
		c.TLSConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return c
}
