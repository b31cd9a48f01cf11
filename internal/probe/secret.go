package probe

import (
	"os"

	secretfile "github.com/hairpin-nat/hairpin/internal/secret"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// ReadSecret reads the shared secret (the import is renamed: the tests name their secret "secret") from the environment variable env, or else from file with the hardened
// reader (one line, a regular file of a trusted owner; o.Warn hears about a file others can read).
func ReadSecret(file, env string, o secretfile.Options) ([]byte, error) {
	if env != "" {
		s := os.Getenv(env)
		if s == "" {
			return nil, errfmt.Errorf("environment variable %s is not set or empty", env)
		}
		return []byte(s), nil
	}
	s, err := secretfile.Read(file, o)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}
