// Package webtest runs a web.Handler on a loopback server for tests, as net/http/httptest does for
// net/http's: the handler is served by the real web.Server, so a test exercises what production runs.
package webtest

import (
	"errors"
	"net"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// Server is a web.Server on a loopback port.
type Server struct {
	// URL is http://127.0.0.1:PORT, without a trailing slash.
	URL string
	// Listener is the server's listener.
	Listener net.Listener

	srv  *web.Server
	done chan error
}

// NewServer starts serving h on 127.0.0.1 at a free port; Close stops it.
func NewServer(h web.Handler) *Server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("webtest: " + err.Error())
	}
	s := &Server{URL: "http://" + l.Addr().String(), Listener: l, srv: &web.Server{Handler: h}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(l) }()
	return s
}

// Close stops the server and its connections, and waits until Serve has returned.
func (s *Server) Close() {
	s.srv.Close()
	if err := <-s.done; !errors.Is(err, web.ErrServerClosed) {
		panic("webtest: " + err.Error())
	}
}
