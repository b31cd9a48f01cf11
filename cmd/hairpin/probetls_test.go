package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A build without a TLS server (notlsserver: the mips and mipsle router builds) refuses probe-server
// --tls-cert with exit 2 and the way out, before it reads the secret or listens; the control, a build with one,
// gets as far as the secret file.
func TestProbeServerWithoutTLSServer(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such.secret")
	args := []string{"probe-server", "--listen", "127.0.0.1:0", "--secret-file", missing, "--tls-cert", "c.pem", "--tls-key", "k.pem"}
	saved := serveTLS
	t.Cleanup(func() { serveTLS = saved })

	for _, tc := range []struct {
		name     string
		noServer bool
		want     string
	}{
		{"without", true, "this build has no TLS server"},
		{"with", false, "--secret-file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.noServer {
				serveTLS = nil
			} else if serveTLS = saved; serveTLS == nil {
				t.Skip("this build has no TLS server (notlsserver)")
			}
			code, stdout, stderr := runArgs(t, args...)
			if code != exitConfig || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, exitConfig, tc.want)
			}
		})
	}
}
