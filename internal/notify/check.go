package notify

import (
	"log/slog"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// Check reads the target's URL as the notifier will (from the file or the variable the config names), so
// that `hairpin check` finds a secret the daemon could not read.
func Check(e config.Notify, log *slog.Logger) error {
	_, err := readURL(e, log)
	return err
}
