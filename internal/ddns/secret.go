package ddns

import (
	"errors"
	"log/slog"
	"os"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

// readSecret reads a secret from a file (see secret.Read: one line, a regular file hairpin's user owns, links
// only inside the config's directory) or an environment variable. The value is never part of an error or a
// log line.
func readSecret(file, env string, o secret.Options, log *slog.Logger) (string, error) {
	switch {
	case file != "" && env != "":
		return "", errors.New("give a secret file or an environment variable, not both")
	case file != "":
		o.Warn = func(msg string, args ...any) { log.Warn("ddns: "+msg, args...) }
		return secret.Read(file, o)
	case env != "":
		s, ok := os.LookupEnv(env)
		if !ok || s == "" {
			return "", errfmt.Errorf("environment variable %s is not set or empty", env)
		}
		return s, nil
	default:
		return "", errors.New("no secret configured (set a *_file or *_env key)")
	}
}
