package config

import (
	"strings"
	"testing"
)

// TestStarterParses: what hairpin init writes reads back, with and without forwards and for every provider it
// has an entry for, and keeps the sections it does not fill as comments.
func TestStarterParses(t *testing.T) {
	fwd := []StarterForward{{Name: "front-cam", Port: "8090", To: "192.168.88.180:80"}, {Name: "range", Port: "9000-9003", To: "192.168.88.50"}}
	for _, ddns := range []string{"", "dyndns2", "rfc2136", "cloudflare", "duckdns"} {
		t.Run("ddns="+ddns, func(t *testing.T) {
			s := Starter{WAN: "eth0", WANWhy: "the default route", LAN: "br-lan", Forwards: fwd, DDNS: ddns}
			cfg, err := Parse("hairpin.yaml", []byte(s.Text()))
			if err != nil {
				t.Fatalf("%v\n%s", err, s.Text())
			}
			if len(cfg.Forwards) != 2 || cfg.WAN.Interface != "eth0" || (ddns != "") != (len(cfg.DDNS) == 1) {
				t.Errorf("read back %+v", cfg)
			}
			for _, want := range []string{"# daemon:", "# A MikroTik", "# the default route"} {
				if !strings.Contains(s.Text(), want) {
					t.Errorf("starter lacks %q", want)
				}
			}
		})
	}
}

func TestParseForwardFlag(t *testing.T) {
	tests := []struct {
		in   string
		want StarterForward
		fail string
	}{
		{"front-cam=8090:192.168.88.180:80", StarterForward{"front-cam", "8090", "192.168.88.180:80"}, ""},
		{"nvr=9000-9003:192.168.88.50", StarterForward{"nvr", "9000-9003", "192.168.88.50"}, ""},
		{"8090:192.168.88.180:80", StarterForward{}, "NAME=PORT:HOST:PORT"},
		{"Front=8090:192.168.88.180:80", StarterForward{}, "a-z"},
		{"cam=http:192.168.88.180:80", StarterForward{}, "not a port"},
		{"cam=8090", StarterForward{}, "NAME=PORT:HOST:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseForwardFlag(tt.in)
			if tt.fail != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fail) {
					t.Fatalf("err = %v, want %q", err, tt.fail)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}
