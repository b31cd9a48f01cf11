package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// TestOnce pins when a provider looks its zone up again: after a failure and after finding nothing, never after
// finding it, and never twice at once.
func TestOnce(t *testing.T) {
	ctx := context.Background()
	fail := errors.New("refused")
	tests := []struct {
		name    string
		answers []string // "!" fails
		want    []string // what each Get returns ("!" for the error)
		calls   int
	}{
		{"kept after success", []string{"example.net"}, []string{"example.net", "example.net", "example.net"}, 1},
		{"retried after failure", []string{"!", "example.net"}, []string{"!", "example.net", "example.net"}, 2},
		{"a zero value is not kept", []string{"", "example.net"}, []string{"", "example.net", "example.net"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Once[string]
			calls := 0
			find := func(context.Context) (string, error) {
				a := tt.answers[calls]
				calls++
				if a == "!" {
					return "ignored", fail
				}
				return a, nil
			}
			for i, want := range tt.want {
				got, err := o.Get(ctx, find)
				if want == "!" {
					if !errors.Is(err, fail) || got != "" {
						t.Fatalf("Get %d = %q, %v; want the failure and no value", i, got, err)
					}
					continue
				}
				if err != nil || got != want {
					t.Fatalf("Get %d = %q, %v; want %q", i, got, err, want)
				}
			}
			if calls != tt.calls {
				t.Fatalf("find ran %d times; want %d", calls, tt.calls)
			}
		})
	}
	t.Run("one lookup at a time", func(t *testing.T) {
		var o Once[string]
		var mu sync.Mutex
		calls := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				z, err := o.Get(ctx, func(context.Context) (string, error) {
					mu.Lock()
					calls++
					mu.Unlock()
					return "example.net", nil
				})
				if err != nil || z != "example.net" {
					t.Errorf("Get = %q, %v", z, err)
				}
			})
		}
		wg.Wait()
		if calls != 1 {
			t.Fatalf("find ran %d times under concurrent Gets; want 1", calls)
		}
	})
}

// TestTokenClient pins what every token provider's client is built from: the hostname folded to lower case
// without its final dot, the settings DefineToken decoded, and the token sent in the header the vendor names
// (Authorization: Bearer when it names none).
func TestTokenClient(t *testing.T) {
	env := Env{Secret: func(file, env string) (string, error) { return map[string]string{"TOK": "s3cret"}[env], nil }}
	tests := []struct {
		name, header, prefix, sent, want string
	}{
		{"bearer", "", "", "Authorization", "Bearer s3cret"},
		{"token scheme", "Authorization", "Token ", "Authorization", "Token s3cret"},
		{"own header", "Auth-API-Token", "", "Auth-API-Token", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tok Token
			def := DefineToken(TokenAPI{Endpoint: "https://api.example.net/v1", Vendor: "Example", DefTTL: 60, MinTTL: 30,
				Header: tt.header, Prefix: tt.prefix}, func(t Token) Provider { tok = t; return nil })
			if !slices.Equal(def.Config.Keys, TokenKeys) {
				t.Fatalf("keys %v, want %v", def.Config.Keys, TokenKeys)
			}
			s := TokenSettings{TokenEnv: "TOK", TTL: 60}
			if _, err := def.Build(Entry{Hostname: "Home.Example.NET.", Settings: &s}, env); err != nil {
				t.Fatal(err)
			}
			if tok.Hostname != "home.example.net" || tok.Settings != s || tok.API.Base.String() != "https://api.example.net/v1" || tok.API.Vendor != "Example" {
				t.Fatalf("Token = %+v", tok)
			}
			r := &web.Request{Header: web.Header{}, URL: &url.URL{}}
			if err := tok.API.Auth(r, nil); err != nil || r.Header.Get(tt.sent) != tt.want {
				t.Fatalf("%s = %q (%v); want %q", tt.sent, r.Header.Get(tt.sent), err, tt.want)
			}
		})
	}
}

// TestOpenSecret pins the errors a key-and-secret provider's New gives, named after its secret.
func TestOpenSecret(t *testing.T) {
	tests := []struct {
		name, secret string
		readErr      error
		want         string
	}{
		{"read failure", "", errors.New("no such file"), "secret API key: no such file"},
		{"empty", "", nil, "the secret API key is empty or holds a space or line break"},
		{"a space", "sk1 x", nil, "the secret API key is empty or holds a space or line break"},
		{"a line break", "sk1\nx", nil, "the secret API key is empty or holds a space or line break"},
		{"good", "sk1_x", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := Env{Secret: func(string, string) (string, error) { return tt.secret, tt.readErr }}
			u, secret, err := OpenSecret(env, "", "https://api.example.net/v3", "home.example.net", "/f", "", "secret API key")
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("err = %v; want %q", err, tt.want)
				}
				return
			}
			if err != nil || secret != tt.secret || u.String() != "https://api.example.net/v3" {
				t.Fatalf("OpenSecret = %v, %q, %v", u, secret, err)
			}
		})
	}
}
