package ddns

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// readSecret reads a secret from a file (trailing newline dropped) or an environment variable. The value is
// never part of an error or a log line.
func readSecret(file, env string, log *slog.Logger) (string, error) {
	switch {
	case file != "" && env != "":
		return "", errors.New("give a secret file or an environment variable, not both")
	case file != "":
		fi, err := os.Stat(file)
		if err != nil {
			return "", err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			log.Warn("ddns: secret file is readable by group or others; chmod 600 it", "file", file,
				"mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		s := strings.TrimRight(string(b), "\r\n")
		if strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return s, nil
	case env != "":
		s, ok := os.LookupEnv(env)
		if !ok || s == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", env)
		}
		return s, nil
	default:
		return "", errors.New("no secret configured (set a *_file or *_env key)")
	}
}
