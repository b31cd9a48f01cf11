package rfc2136

import (
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

func reply(rcode int, tsigErr uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate("example.net.")
	m.Rcode = rcode
	if tsigErr != 0 {
		m.SetTsig("k.", dns.HmacSHA256, 300, 0)
		m.Extra[len(m.Extra)-1].(*dns.TSIG).Error = tsigErr
	}
	return m
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		r    *dns.Msg
		err  error
		kind error
		auth bool
	}{
		{"noerror", reply(dns.RcodeSuccess, 0), nil, nil, false},
		{"badsig", reply(dns.RcodeNotAuth, dns.RcodeBadSig), dns.ErrSig, provider.ErrHold, true},
		{"badkey", reply(dns.RcodeNotAuth, dns.RcodeBadKey), dns.ErrSig, provider.ErrHold, true},
		{"badtime", reply(dns.RcodeNotAuth, dns.RcodeBadTime), dns.ErrSig, provider.ErrHold, true},
		{"notauth for the zone", reply(dns.RcodeNotAuth, 0), nil, provider.ErrHold, false},
		{"refused", reply(dns.RcodeRefused, 0), nil, provider.ErrHold, true},
		{"servfail", reply(dns.RcodeServerFailure, 0), nil, provider.ErrTransient, false},
		{"notzone", reply(dns.RcodeNotZone, 0), nil, provider.ErrHold, false},
		{"unverified noerror", reply(dns.RcodeSuccess, 0), dns.ErrSig, provider.ErrHold, true},
		{"timeout", nil, errors.New("i/o timeout"), provider.ErrTransient, false},
	}
	for _, c := range cases {
		_, err := Classify(c.r, c.err)
		if c.kind == nil && err != nil || c.kind != nil && !errors.Is(err, c.kind) || provider.IsAuth(err) != c.auth {
			t.Errorf("%s: err = %v, want %v auth %v", c.name, err, c.kind, c.auth)
		}
	}
}

func TestKeySecret(t *testing.T) {
	const v = "vLOYVi76SJwCOvgi0woFuu8jx6svhl1M5LQXabpivGw="
	for _, in := range []string{v, v + "\n", "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"" + v + "\";\n};\n"} {
		if got := KeySecret(in); got != v {
			t.Errorf("KeySecret(%q) = %q", in, got)
		}
	}
}

// FuzzClassify feeds arbitrary wire messages, as a server might send, to the classifier.
func FuzzClassify(f *testing.F) {
	for _, m := range []*dns.Msg{reply(dns.RcodeSuccess, 0), reply(dns.RcodeNotAuth, dns.RcodeBadSig), reply(dns.RcodeRefused, 0)} {
		b, _ := m.Pack()
		f.Add(b, false)
	}
	f.Add([]byte{0, 1, 2}, true)
	f.Fuzz(func(t *testing.T, wire []byte, verifyFailed bool) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil {
			m = nil
		}
		var err error
		if verifyFailed {
			err = dns.ErrSig
		}
		answer, cerr := Classify(m, err)
		var pe *provider.Error
		if cerr != nil && !errors.As(cerr, &pe) || cerr == nil && answer != "NOERROR" {
			t.Fatalf("Classify = %q, %v", answer, cerr)
		}
	})
}
