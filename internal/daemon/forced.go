package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ForcedFile, in the state directory, records that a one-shot command (`hairpin apply --force`, `hairpin
// down --force`) changed the rules while the daemon ran. The daemon cannot tell that from the kernel cheaply,
// so the command says so: status shows it, and the daemon's next event re-applies its own config in full.
const ForcedFile = "rules-changed-under-daemon"

// MarkForced records, for the daemon of state directory dir, that what changed its rules.
func MarkForced(dir, what string) error {
	line := fmt.Sprintf("%s at %s", what, time.Now().Format(time.DateTime))
	return os.WriteFile(filepath.Join(dir, ForcedFile), []byte(line+"\n"), 0o600)
}

// forced reads the record, or "" when there is none (or no file is configured).
func (d *Daemon) forced() string {
	if d.deps.ForcedFile == "" {
		return ""
	}
	f, err := os.Open(d.deps.ForcedFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 512))
	return strings.TrimSpace(string(b))
}

// clearForced removes a record nobody consumed (the daemon it was meant for stopped first).
func (d *Daemon) clearForced() {
	if d.deps.ForcedFile != "" {
		_ = os.Remove(d.deps.ForcedFile)
	}
}

// takeForced consumes the record: the caller re-applies in full. It says whether there was one.
func (d *Daemon) takeForced() bool {
	what := d.forced()
	if what == "" {
		return false
	}
	d.clearForced()
	d.mu.Lock()
	d.installed = nil
	d.mu.Unlock()
	d.event(slog.LevelWarn, "the rules were changed under the daemon; re-applying its config", "by", what)
	return true
}
