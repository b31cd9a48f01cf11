// Package web is hairpin's own HTTP/1.1: the request and response types, a client and a server, on crypto/tls
// and net/textproto. It exists for size: linking net/http costs a router build about 1.6 MiB (its server,
// its transport and their bundled HTTP/2), several times what hairpin's few endpoints and API calls need.
// Its names follow net/http's so code reads the same; what it leaves out is what hairpin never uses: HTTP/2,
// redirects (a 3xx is an answer), cookies, forms, multipart, content sniffing and compression.
//
// Tests may use net/http freely (httptest servers as the far end, net/http as the parser oracle in fuzz
// tests); code linked into cmd/hairpin must not, and TestShippedDeps in cmd/hairpin checks that.
package web
