package daemon

import (
	"io"
	"log/slog"
)

// LogHandler builds the daemon's slog handler: text by default, JSON on request.
func LogHandler(w io.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
