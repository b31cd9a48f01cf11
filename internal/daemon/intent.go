package daemon

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/secret"
)

// A WAN set update commits the new addresses first and retires the old ones after; a crash (kill -9) between
// the two left both forwarding until the next full apply. The daemon records the set it is about to install
// in Deps.IntentFile before the update and removes the record after; a record found at start means an update
// was cut short, and its set is installed first thing, before the first observation, retiring whatever the
// crash left behind. The record is not synced to disk: it guards against the process dying, and after a reboot
// the kernel holds no table at all.

func (d *Daemon) recordIntent(want []netip.Addr) {
	path := d.deps.IntentFile
	if path == "" {
		return
	}
	var b strings.Builder
	for _, a := range want {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err == nil {
		err = os.Rename(tmp, path)
		if err == nil {
			return
		}
	}
	d.log.Debug("cannot record the WAN set update in progress", "file", path)
}

func (d *Daemon) clearIntent() {
	if d.deps.IntentFile != "" {
		_ = os.Remove(d.deps.IntentFile)
	}
}

// finishInterrupted installs the WAN set of an update that a crash cut short.
func (d *Daemon) finishInterrupted(ctx context.Context) {
	path := d.deps.IntentFile
	if path == "" {
		return
	}
	data, err := secret.ReadFile(path, 64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var want []netip.Addr
	if err == nil {
		for _, line := range strings.Fields(string(data)) {
			a, perr := netip.ParseAddr(line)
			if perr != nil {
				err = perr
				break
			}
			want = append(want, a)
		}
	}
	if err != nil {
		d.event(slog.LevelWarn, "ignoring an unreadable record of an interrupted WAN set update", "file", path, "error", err)
		d.clearIntent()
		return
	}
	bctx, cancel := backendContext(ctx)
	err = d.deps.Backend.SetWANAddrs(bctx, want)
	cancel()
	if err != nil {
		// The table may be gone or not ours; the full apply that follows decides.
		d.event(slog.LevelWarn, "could not finish an interrupted WAN set update; the full apply at start will", "error", err)
	} else {
		d.event(slog.LevelWarn, "finished a WAN set update a crash had cut short", "addresses", fmtAddrs(want), "file", filepath.Base(path))
	}
	d.clearIntent()
}
