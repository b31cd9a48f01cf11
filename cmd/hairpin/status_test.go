package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/ddns"
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
		Events: []daemon.Event{{Time: sent, Message: "WAN address changed"}},
	}
	var out bytes.Buffer
	printStatus(&out, st)
	for _, want := range []string{
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
