package config

import "testing"

func TestStatusAddress(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"block", "wan: {interface: eth0\ndaemon:\n  resync: 1m\n  status: /run/x.sock   # mine\nforwards: [\n", "/run/x.sock"},
		{"flow", "daemon: {status: '192.168.88.1:9469', resync: 1m}\nwan: [\n", "192.168.88.1:9469"},
		{"quoted block", "daemon:\n  status: \"/tmp/a b.sock\"\n", "/tmp/a b.sock"},
		{"another section's status", "routeros:\n  status: x\ndaemon:\n  resync: 1m\n", ""},
		{"none", "wan: [\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusAddress([]byte(tt.text)); got != tt.want {
				t.Errorf("StatusAddress = %q, want %q", got, tt.want)
			}
		})
	}
}
