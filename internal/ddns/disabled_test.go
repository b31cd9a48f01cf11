package ddns_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
)

// TestKeepDisabled: with KeepDisabled an entry whose secret cannot be read stays in Status as disabled with
// the reason, and the others run; without it (the negative control) New fails as a whole.
func TestKeepDisabled(t *testing.T) {
	srv := ddnstest.NewDyndns2Server(t, false, ddnstest.Dyndns2User, ddnstest.Dyndns2Pass, ddnstest.Dyndns2Host, "other.example.net")
	good := provider.Entry{Provider: "dyndns2", Hostname: ddnstest.Dyndns2Host, Settings: &dyndns2.Settings{Server: srv.URL, Username: ddnstest.Dyndns2User, PasswordFile: writeSecret(t, ddnstest.Dyndns2Pass)}}
	missing := filepath.Join(t.TempDir(), "missing.secret")
	bad := provider.Entry{Provider: "dyndns2", Hostname: "other.example.net", Settings: &dyndns2.Settings{Server: srv.URL, Username: ddnstest.Dyndns2User, PasswordFile: missing}}
	entries := []provider.Entry{good, bad}

	if _, err := ddns.New(entries, t.TempDir(), testUA, nil); err == nil || !strings.Contains(err.Error(), "missing.secret") {
		t.Fatalf("without KeepDisabled: err = %v, want the missing secret", err)
	}
	logger, _ := newLogger(t)
	e, err := ddns.New(entries, t.TempDir(), testUA, logger, ddns.KeepDisabled())
	if err != nil {
		t.Fatal(err)
	}
	st := e.Status()
	if len(st) != 2 || st[0].Disabled != "" || st[1].Hostname != "other.example.net" || !strings.Contains(st[1].Disabled, "missing.secret") {
		t.Fatalf("status = %+v, want the good host running and the other disabled with the reason", st)
	}
	if err := force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Errorf("requests = %+v, want one, for the hostname that can run", reqs)
	}
}
