package ddns

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// TestOldBADTIMEHoldLifted: a hold for TSIG BADTIME saved by an earlier version is lifted at start (it was the
// router's clock); a hold for BADKEY stays (the negative control).
func TestOldBADTIMEHoldLifted(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "tsig")
	if err := os.WriteFile(secretFile, []byte("VLuNnpuJHmXqWAgrae9WBLyzLyvhvuQ5RpPRvuQcNxA=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entry := provider.Entry{Provider: "rfc2136", Server: "192.0.2.53", Zone: "example.net", Hostname: "home.example.net",
		TSIGKey: "hairpin-key", TSIGAlgorithm: "hmac-sha256", TSIGSecretFile: secretFile, TTL: 60}
	for answer, held := range map[string]bool{"NOTAUTH (TSIG BADTIME)": false, "NOTAUTH (TSIG BADKEY)": true} {
		e, err := New([]provider.Entry{entry}, dir, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		h := e.hosts[0]
		st := h.st
		st.Held, st.Auth, st.HeldSince, st.Answer, st.Reason = true, true, time.Now(), answer, "check tsig_key"
		e.save(h.file, st)
		e2, err := New([]provider.Entry{entry}, dir, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := e2.Status()[0].Held; got != held {
			t.Errorf("%s: held after a restart = %v, want %v", answer, got, held)
		}
	}
}
