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
	"syscall"

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
	err := writeIntent(path, []byte(b.String()))
	d.mu.Lock()
	was := d.intentErr
	d.intentErr = ""
	if err != nil {
		d.intentErr = err.Error()
	}
	d.mu.Unlock()
	// Said when it starts and when it ends, not at every update: a full disk stays full for a while.
	switch {
	case err != nil && was == "":
		d.event(slog.LevelError, "cannot record the WAN set update in progress: a crash during an update would leave the old address forwarding until the next full apply",
			"file", path, "error", err)
	case err == nil && was != "":
		d.event(slog.LevelInfo, "recording WAN set updates again", "file", path)
	}
}

// writeIntent replaces path with data through a temporary file, which it removes when any step fails: a
// full disk creates the file but not its contents.
func writeIntent(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
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
