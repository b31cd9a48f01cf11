package ddns

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

const stateVersion = 1

// state is what hairpin remembers about one hostname, one JSON file each in stateDir/ddns.
type state struct {
	Version  int    `json:"version"`
	Hostname string `json:"hostname"`
	Provider string `json:"provider"`
	// ConfigHash identifies the entry's config and secrets; state written under another hash is dropped, which
	// lifts a hold and sends the address once to the possibly new destination.
	ConfigHash  string     `json:"config_hash"`
	LastAddress netip.Addr `json:"last_address"`
	// InDoubt says an update that failed or was abandoned may have reached the provider all the same (an answer
	// lost on the way back): the record may hold another address than LastAddress, so the next attempt goes
	// out even for LastAddress. A provider that asks first (rfc2136) then only asks.
	InDoubt   bool      `json:"in_doubt,omitempty"`
	LastSent  time.Time `json:"last_sent,omitzero"`
	Answer    string    `json:"answer,omitempty"`
	Held      bool      `json:"held,omitempty"`
	Auth      bool      `json:"auth,omitempty"` // the hold is a credentials refusal
	HeldSince time.Time `json:"held_since,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	NextRetry time.Time `json:"next_retry,omitzero"`
	Wait      string    `json:"wait,omitempty"`
	Failures  int       `json:"failures,omitempty"`
	// Refusals counts the refusals in a row that hold once there are enough of them (provider.Error.HoldAfter).
	Refusals  int    `json:"refusals_in_a_row,omitempty"`
	LastError string `json:"last_error,omitempty"`
	Warning   string `json:"warning,omitempty"` // the provider accepted the update with a remark
	// History is the addresses the record moved through, newest last, for the status page.
	History []Move `json:"history,omitempty"`
}

// Move is one address the provider accepted for a hostname, and when.
type Move struct {
	Address netip.Addr `json:"address"`
	Time    time.Time  `json:"time"`
}

// MaxHistory bounds a hostname's remembered addresses.
const MaxHistory = 8

// moved adds addr to hist when it differs from the address held before, keeping the last MaxHistory.
func moved(hist []Move, before, addr netip.Addr, at time.Time) []Move {
	if addr == before && len(hist) > 0 {
		return hist
	}
	hist = append(hist, Move{Address: addr, Time: at})
	if len(hist) > MaxHistory {
		hist = hist[len(hist)-MaxHistory:]
	}
	return slices.Clone(hist)
}

// configHash covers the entry's config (its line number aside) and the secrets' values, so that fixing a
// password in its file also counts as a change. Only a hash is stored, in a file readable by root alone.
func configHash(ent provider.Entry, secrets []string) string {
	h := sha256.New()
	h.Write([]byte("hairpin-ddns-v1\x00"))
	h.Write(hashedConfig(ent))
	for _, s := range secrets {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// hashedEntry is the layout, with its defaults, of the one entry struct every provider shared before each took
// settings of its own. The hash is taken over it so that state written then still belongs to the same entry
// now (a changed hash drops the state and sends the address again); a provider's keys outside it follow it.
type hashedEntry struct {
	Provider, Hostname, Server, Username, PasswordFile, PasswordEnv, TokenFile, TokenEnv string
	Zone, TSIGKey, TSIGAlgorithm, TSIGSecretFile, TSIGSecretEnv                          string
	TTL                                                                                  int
	ZoneID                                                                               string
	Proxied                                                                              bool
	IPv6Param                                                                            string `json:",omitempty"`
	Family                                                                               string `json:",omitempty"`
	PublishAlways                                                                        bool
	Line                                                                                 int
}

func hashedConfig(ent provider.Entry) []byte {
	he := hashedEntry{Provider: ent.Provider, Hostname: ent.Hostname, TTL: 60, TSIGAlgorithm: "hmac-sha256"}
	var extra map[string]json.RawMessage
	if ent.Settings != nil {
		settings, _ := json.Marshal(ent.Settings)
		_ = json.Unmarshal(settings, &he)
		_ = json.Unmarshal(settings, &extra)
	}
	he.Family, he.PublishAlways = ent.Family, ent.PublishAlways
	out, _ := json.Marshal(he)
	for _, f := range reflect.VisibleFields(reflect.TypeFor[hashedEntry]()) {
		for k := range extra {
			if strings.EqualFold(k, f.Name) {
				delete(extra, k)
			}
		}
	}
	if len(extra) > 0 {
		more, _ := json.Marshal(extra) // a map: keys in sorted order
		out = append(append(out, 0), more...)
	}
	return out
}

// stateName is the file name for an entry. Hostnames are DNS names, but the config is not trusted to keep
// path separators out; without them the name cannot leave the directory.
func stateName(ent provider.Entry) string {
	safe := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
				return r
			}
			return '_'
		}, s)
	}
	return safe(ent.Provider) + "_" + safe(ent.Hostname) + ".json"
}

func (e *Engine) load(h *host) state {
	fresh := state{Version: stateVersion, Hostname: h.entry.Hostname, Provider: h.entry.Provider, ConfigHash: h.hash}
	log := e.log.With("hostname", h.entry.Hostname, "provider", h.entry.Provider)
	data, err := secret.ReadFile(h.file, 1<<20) // regular files only, bounded: a state file is a few hundred bytes
	if errors.Is(err, fs.ErrNotExist) {
		return fresh
	}
	var st state
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	switch {
	case err != nil:
		log.Warn("ddns: ignoring unreadable state; the address will be sent once", "file", h.file, "error", err)
		return fresh
	case st.ConfigHash != h.hash:
		if st.Held {
			log.Info("ddns: the entry's config changed; lifting the hold", "was", st.Reason)
		}
		return fresh
	case st.Held && strings.Contains(st.Answer, "TSIG BADTIME"):
		// Earlier versions held on BADTIME, which is the router's clock and goes away with NTP.
		log.Info("ddns: lifting a hold for TSIG BADTIME (a clock difference, retried now)", "was", st.Reason)
		return fresh
	case st.Held:
		log.Error("ddns: UPDATES HELD for this hostname until its config changes", "answer", st.Answer,
			"reason", st.Reason, "state_file", h.file)
	}
	// A saved wait is recomputed against this clock: one that jumped back (or a file from elsewhere) must not
	// pause the hostname for years.
	limit := provider.MaxWait
	if st.Wait == waitBackoff {
		limit = BackoffMax
	}
	if now := e.clock.Now(); st.NextRetry.After(now.Add(limit)) {
		log.Warn("ddns: the saved retry time is too far ahead (clock change?); waiting at most "+limit.String(),
			"next_retry", st.NextRetry, "state_file", h.file)
		st.NextRetry = now.Add(limit)
	}
	return st
}

// save writes a host's state atomically: a crash leaves the old file or the new one, never a torn one, and a
// reboot right after an update does not resend it. Failing to save is logged; the state in memory still
// prevents repeats until the process ends.
func (e *Engine) save(file string, st state) {
	if err := writeAtomic(file, st); err != nil {
		e.log.Error("ddns: cannot save state; a restart may resend the address", "file", file, "error", err)
	}
}

func writeAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename itself is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
