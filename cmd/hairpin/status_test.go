package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/allowdns"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/notify"
)

func TestPrintStatus(t *testing.T) {
	sent := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	st := &daemon.Status{
		Version: "test", Backend: "linux", WANInterface: "wan0", WANExists: true, WANAddrs: []string{"203.0.113.10"},
		LANInterface: "lan0", LANNets: []string{"192.168.88.0/24"}, Installed: true, ForwardSet: []string{"203.0.113.10"},
		Forwards: []daemon.ForwardStatus{{Name: "front-cam", Protocol: "tcp", Port: "8090", To: "192.168.88.180:80", Packets: 30, Bytes: 2289}},
		DDNS: []ddns.HostStatus{
			{Hostname: "home.example.net", Provider: "dyndns2", LastAddress: "203.0.113.10", LastSent: sent, Answer: "good 203.0.113.10"},
			{Hostname: "cams.example.net", Provider: "dyndns2", Held: true, Reason: "badauth: fix the username or password"},
		},
		Events:  []daemon.Event{{Time: sent, Message: "WAN address changed"}},
		Verdict: daemon.Verdict{Level: daemon.Amber, Reason: "DNS updates of cams.example.net are held: badauth"},
		Notify:  []notify.TargetStatus{{Target: "https://ntfy.sh", Format: "ntfy", Sent: 3, Failed: 1, LastError: "https://ntfy.sh answered 429"}},
	}
	var out bytes.Buffer
	printStatus(&out, st)
	for _, want := range []string{
		"verdict: AMBER: DNS updates of cams.example.net are held",
		"https://ntfy.sh (ntfy): 3 sent, 1 failed; last error: https://ntfy.sh answered 429",
		"WAN wan0: 203.0.113.10",
		"front-cam  tcp    8090  192.168.88.180:80  30       2289",
		"home.example.net  dyndns2   203.0.113.10  2026-11-26 01:02:03  good 203.0.113.10  ok",
		"HELD: badauth",
		"WAN address changed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPrintStatusIPv6(t *testing.T) {
	st := &daemon.Status{
		Backend: "linux", WANInterface: "wan0", WANExists: true, WANAddrs: []string{"203.0.113.10"}, Installed: true,
		WAN6Addrs: []string{"2001:db8::2"}, ForwardSet6: []string{"2001:db8::2"},
		Forwards: []daemon.ForwardStatus{
			{Name: "front-cam", Protocol: "tcp", Port: "8090", To: "192.168.88.180:80", IPv6: "[2001:db8:1:1:21a:2bff:fe3c:4d5e]:80"},
			{Name: "pool-cam", Protocol: "tcp", Port: "8092", To: "192.168.88.182:80", IPv6: "off: no to6 in the config"},
		},
	}
	var out bytes.Buffer
	printStatus(&out, st)
	for _, want := range []string{"IPv6: WAN 2001:db8::2; forwarding on 2001:db8::2", "IPV6", "[2001:db8:1:1:21a:2bff:fe3c:4d5e]:80", "off: no to6 in the config"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	// An IPv4-only config shows no IPv6 column.
	st.Forwards, st.ForwardSet6, st.WAN6Addrs = st.Forwards[1:], nil, nil
	out.Reset()
	printStatus(&out, st)
	if strings.Contains(out.String(), "IPV6") || strings.Contains(out.String(), "IPv6:") {
		t.Errorf("IPv4-only status shows IPv6:\n%s", out.String())
	}
}

func TestPrintStatusGuards(t *testing.T) {
	keep := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	st := &daemon.Status{
		Backend: "linux", WANInterface: "wan0", WANExists: true, WANAddrs: []string{"203.0.113.10"}, Installed: true,
		Forwards: []daemon.ForwardStatus{
			{Name: "front-cam", Protocol: "tcp", Port: "8090", To: "192.168.88.180:80", Allow: []string{"set-family"}, Limit: "10/minute burst 10", DroppedAllow: 7, DroppedLimit: 3},
			{Name: "lan-only", Protocol: "tcp", Port: "8091", To: "192.168.88.181:80", Allow: []string{}},
			{Name: "game", Protocol: "udp", Port: "27015", To: "192.168.88.50:27015"},
		},
		AllowedHosts: []allowdns.HostStatus{
			{Host: "phone.example.net", Addrs: []string{"198.51.100.66"}, TTL: "2s"},
			{Host: "parents.example.net", Addrs: []string{"192.0.2.9"}, Error: "SERVFAIL", KeepUntil: keep},
		},
	}
	var out bytes.Buffer
	printStatus(&out, st)
	for _, want := range []string{
		"allow set-family, limit 10/minute burst 10  7/3",
		"nobody (LAN only)",
		"everyone",
		"-/-",
		"phone.example.net",
		"NOT RESOLVING (SERVFAIL); keeping the last addresses until 2026-11-26 02:00:00",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
