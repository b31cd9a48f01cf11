package config_test

import (
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// TestTargetAndPortGaps: values once accepted (or only warned about) are errors with the line and a hint.
func TestTargetAndPortGaps(t *testing.T) {
	for _, tc := range []struct {
		name, fwd, want string
	}{
		{"broadcast of a LAN subnet", "{name: cam, port: 8090, to: 192.168.88.255}",
			`hairpin.yaml:8:33: forwards[0].to: 192.168.88.255 is the broadcast address of LAN subnet 192.168.88.0/24 (forward to a host's own address inside 192.168.88.0/24)`},
		{"network of a LAN subnet", "{name: cam, port: 8090, to: 192.168.88.0:80}",
			`hairpin.yaml:8:33: forwards[0].to: 192.168.88.0 is the network address of LAN subnet 192.168.88.0/24`},
		{"this network", "{name: cam, port: 8090, to: 0.1.2.3}",
			`hairpin.yaml:8:33: forwards[0].to: 0.1.2.3 is not a unicast IPv4 address`},
		{"reserved", "{name: cam, port: 8090, to: 240.0.0.1}",
			`hairpin.yaml:8:33: forwards[0].to: 240.0.0.1 is not a unicast IPv4 address`},
		{"plus sign", "{name: cam, port: +8095, to: 192.168.88.10}",
			`hairpin.yaml:8:23: forwards[0].port: "+8095" is not a port number (ports are 1 to 65535`},
		{"spaces", `{name: cam, port: " 8096 ", to: 192.168.88.10}`,
			`hairpin.yaml:8:23: forwards[0].port: " 8096 " is not a port number`},
		{"plus sign in the target port", "{name: cam, port: 8096, to: 192.168.88.10:+80}",
			`hairpin.yaml:8:33: forwards[0].to: "+80" is not a port number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "wan:\n  interface: eth0\nlan:\n  interface: br-lan\n  subnets: [192.168.88.0/24]\n\nforwards:\n  - " + tc.fwd + "\n"
			_, err := config.Parse("hairpin.yaml", []byte(data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
	// /31 and /32 subnets have no network or broadcast address to refuse.
	data := "wan:\n  interface: eth0\nlan:\n  interface: br-lan\n  subnets: [192.168.88.0/31]\nforwards:\n  - {name: cam, port: 8090, to: 192.168.88.0}\n"
	if _, err := config.Parse("hairpin.yaml", []byte(data)); err != nil {
		t.Errorf("a /31 host refused: %v", err)
	}
}

// TestSecretOwners: secret_owners takes uids and user names; an unknown user is an error with its line.
func TestSecretOwners(t *testing.T) {
	base := "wan:\n  interface: eth0\nlan:\n  interface: br-lan\nforwards: [{name: a, port: 8090, to: 192.168.88.2}]\n"
	cfg, err := config.Parse("hairpin.yaml", []byte(base+"secret_owners: [root, 65534]\nddns: [{provider: duckdns, hostname: home.duckdns.org, token_env: T}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.SecretOwners) != 2 || cfg.SecretOwners[0] != 0 || cfg.SecretOwners[1] != 65534 || len(cfg.DDNS[0].SecretOwners) != 2 {
		t.Errorf("SecretOwners = %v, DDNS %v", cfg.SecretOwners, cfg.DDNS[0].SecretOwners)
	}
	_, err = config.Parse("hairpin.yaml", []byte(base+"secret_owners: [no-such-user-here]\n"))
	if err == nil || !strings.Contains(err.Error(), `hairpin.yaml:6:17: secret_owners[0]: no user "no-such-user-here"`) {
		t.Errorf("got %v", err)
	}
}
