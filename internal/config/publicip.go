package config

import "github.com/hairpin-nat/hairpin/internal/publicip/source"

// checkPublicIPSource validates one wan.public_ip entry with the parser hairpin run uses, so that check and
// run judge every source alike.
func checkPublicIPSource(s string) error {
	_, err := source.Parse(s)
	return err
}
