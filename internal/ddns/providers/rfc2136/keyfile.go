package rfc2136

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Key is a TSIG key as read from a secret file. Name and Algorithm are empty when the file gives only the
// secret.
type Key struct {
	Name      string
	Algorithm string
	Secret    string // base64
}

// ParseKeyFile reads the secret file formats that DNS servers' own tools write, so that the file made for the
// server serves hairpin too:
//
//   - the bare base64 secret;
//   - BIND's key clause, as `tsig-keygen NAME` prints it: key "NAME" { algorithm ALG; secret "BASE64"; };
//   - Knot's `keymgr -t NAME ALG` output: a YAML `key:` list of id, algorithm and secret (and its comment line);
//   - ALG:NAME:BASE64 (also NAME:BASE64), the form of `nsupdate -y`, `kdig -y` and Knot's comment line.
//
// A file holding several keys is refused: which one to use would be a guess.
func ParseKeyFile(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var k Key
	var err error
	switch {
	case strings.Contains(s, "{") || keyRE().bindSecret.MatchString(s):
		k, err = parseBINDKey(s)
	case keyRE().yamlKey.MatchString(s):
		k, err = parseKnotKey(s)
	case strings.Contains(s, ":"):
		k, err = parseColonKey(s)
	default:
		k = Key{Secret: s}
	}
	if err != nil {
		return Key{}, err
	}
	k.Algorithm = strings.ToLower(strings.TrimSuffix(k.Algorithm, "."))
	if _, err := base64.StdEncoding.DecodeString(k.Secret); err != nil || k.Secret == "" {
		return Key{}, errors.New("the secret is not base64 (give the file tsig-keygen or keymgr -t wrote, " +
			"ALG:NAME:SECRET, or the bare secret)")
	}
	return k, nil
}

// keyREs are the key file's patterns, compiled when a key file is first read (most routers have none).
type keyREs struct{ yamlKey, bindClause, bindAlg, bindSecret, bindComment *regexp.Regexp }

var keyRE = sync.OnceValue(func() keyREs {
	return keyREs{
		yamlKey:     regexp.MustCompile(`(?m)^key:\s*$`),
		bindClause:  regexp.MustCompile(`(?s)key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;?`),
		bindAlg:     regexp.MustCompile(`algorithm\s+"?([A-Za-z0-9.-]+)"?\s*;`),
		bindSecret:  regexp.MustCompile(`secret\s+"([^"]*)"\s*;`),
		bindComment: regexp.MustCompile(`(?m)^\s*(#|//).*$`), // whole lines only: base64 holds "//"
	}
})

func parseBINDKey(s string) (Key, error) {
	s = keyRE().bindComment.ReplaceAllString(s, "")
	clauses := keyRE().bindClause.FindAllStringSubmatch(s, -1)
	switch len(clauses) {
	case 0:
		// A bare clause body, as some guides show it: algorithm ...; secret "...";
		if m := keyRE().bindSecret.FindStringSubmatch(s); m != nil {
			k := Key{Secret: strings.TrimSpace(m[1])}
			if a := keyRE().bindAlg.FindStringSubmatch(s); a != nil {
				k.Algorithm = a[1]
			}
			return k, nil
		}
		return Key{}, errors.New(`the key clause has no secret "..."; line`)
	case 1:
	default:
		return Key{}, errfmt.Errorf("the file holds %d key clauses; keep only the one for this hostname", len(clauses))
	}
	k := Key{Name: clauses[0][1]}
	body := clauses[0][2]
	if a := keyRE().bindAlg.FindStringSubmatch(body); a != nil {
		k.Algorithm = a[1]
	}
	m := keyRE().bindSecret.FindStringSubmatch(body)
	if m == nil {
		return Key{}, errfmt.Errorf(`key clause %q has no secret "..."; line`, k.Name)
	}
	k.Secret = strings.TrimSpace(m[1])
	return k, nil
}

func parseKnotKey(s string) (Key, error) {
	var doc struct {
		Key []struct {
			ID        string `yaml:"id"`
			Algorithm string `yaml:"algorithm"`
			Secret    string `yaml:"secret"`
		} `yaml:"key"`
	}
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return Key{}, errors.New("the file looks like Knot's keymgr -t output but is not valid YAML")
	}
	switch len(doc.Key) {
	case 0:
		return Key{}, errors.New("the file's key: list is empty")
	case 1:
	default:
		return Key{}, errfmt.Errorf("the file's key: list holds %d keys; keep only the one for this hostname", len(doc.Key))
	}
	k := doc.Key[0]
	return Key{Name: k.ID, Algorithm: k.Algorithm, Secret: strings.TrimSpace(k.Secret)}, nil
}

func parseColonKey(s string) (Key, error) {
	if strings.ContainsAny(s, "\n") {
		return Key{}, errors.New("the file holds several lines; give one key as ALG:NAME:SECRET")
	}
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(s, "#")), " "), ":")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	switch len(parts) {
	case 2:
		return Key{Name: parts[0], Secret: parts[1]}, nil
	case 3:
		return Key{Algorithm: parts[0], Name: parts[1], Secret: parts[2]}, nil
	default:
		return Key{}, errors.New("the secret has the form ALG:NAME:SECRET but not three fields")
	}
}
