package ipclass

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr      string
		public    bool
		behindNAT bool
	}{
		{"203.0.113.7", true, false},
		{"8.8.8.8", true, false},
		{"100.63.255.255", true, false},
		{"100.128.0.1", true, false},
		{"10.0.0.1", false, true},
		{"172.16.0.1", false, true},
		{"192.168.0.1", false, true},
		{"100.64.0.1", false, true},
		{"169.254.1.1", false, true},
		{"127.0.0.1", false, true},
		{"::ffff:192.168.0.1", false, true},
		{"192.0.0.2", false, false},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"224.0.0.1", false, false},
		{"240.0.0.1", false, false},
		{"2001:db8::1", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := IsPublic(a); got != tt.public {
				t.Errorf("IsPublic = %v (%q), want %v", got, NotPublic(a), tt.public)
			}
			if got := BehindNAT(a); got != tt.behindNAT {
				t.Errorf("BehindNAT = %v, want %v", got, tt.behindNAT)
			}
			if BehindNAT(a) && IsPublic(a) {
				t.Error("an address behind a NAT cannot be public")
			}
		})
	}
}
