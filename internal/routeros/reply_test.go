package routeros

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []Entry
		wantErr bool
	}{
		{"list", `[{".id":"*1","address":"10.0.0.111/24","disabled":"false"},{".id":"*2"}]`,
			[]Entry{{".id": "*1", "address": "10.0.0.111/24", "disabled": "false"}, {".id": "*2"}}, false},
		{"object", `{".id":"*A","comment":"x"}`, []Entry{{".id": "*A", "comment": "x"}}, false},
		{"empty list", `[]`, []Entry{}, false},
		{"empty body", ``, nil, false},
		{"whitespace", " \n", nil, false},
		{"numbers and booleans kept as written", `{"a":1,"b":true,"c":null}`, []Entry{{"a": "1", "b": "true", "c": ""}}, false},
		{"nested", `{"a":{"b":"c"}}`, nil, true},
		{"null item", `[null]`, nil, true},
		{"html", `<html>`, nil, true},
		{"trailing data", `{} {}`, nil, true},
		{"truncated", `[{"a":"b"`, nil, true},
		{"string", `"x"`, nil, true},
		{"raw control bytes in a string, as RouterOS sends them", "[{\"comment\":\"cam \x1b[1mred\x1b[0m\ttab\"}]",
			[]Entry{{"comment": "cam \x1b[1mred\x1b[0m\ttab"}}, false},
		{"raw newline between values is whitespace", "[{\"a\":\"\x01\"},\n{\"b\":\"c\"}]", []Entry{{"a": "\x01"}, {"b": "c"}}, false},
		{"escaped quote before a control byte", "[{\"a\":\"x\\\"\x1b\"}]", []Entry{{"a": "x\"\x1b"}}, false},
		{"control byte outside a string is still an error", "[\x01]", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReply([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if !maps.Equal(got[i], tt.want[i]) {
					t.Errorf("[%d] = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		body           string
		status         int
		message, detai string
		ok             bool
	}{
		{`{"error":400,"message":"Bad Request","detail":"no such command or directory (remove)"}`, 400, "Bad Request", "no such command or directory (remove)", true},
		{`{"error":404,"message":"Not Found"}`, 404, "Not Found", "", true},
		{`{"detail":"x","error":"406","message":"Not Acceptable"}`, 406, "Not Acceptable", "x", true},
		{`{"message":"no code"}`, 0, "", "", false},
		{`<html>`, 0, "", "", false},
		{`null`, 0, "", "", false},
		{`{"error":"four"}`, 0, "", "", false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			status, msg, detail, ok := ParseError([]byte(tt.body))
			if status != tt.status || msg != tt.message || detail != tt.detai || ok != tt.ok {
				t.Errorf("ParseError(%s) = %d %q %q %v", tt.body, status, msg, detail, ok)
			}
		})
	}
}

// FuzzParseReply checks that no router answer makes the parsers panic, and that what ParseReply accepts
// survives a round trip through RouterOS's own encoding (every value a string).
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		`[{".id":"*1","address":"10.0.0.111/24"}]`, `{".id":"*A"}`, `[]`, ``, `{"a":1,"b":true,"c":null}`,
		`{"error":400,"message":"Bad Request","detail":"x"}`, `[{"a":"\u00e9\n"}]`, `[null]`, `{"a":{}}`,
		"[{\"comment\":\"\x1b[31mred\x1b[0m\"}]", "[{\"a\":\"x\\\"\x01\"},\n{\"b\":\"\x1f\"}]", "{\"error\":400,\"detail\":\"\x07\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, _, _ = ParseError(body)
		got, err := ParseReply(body)
		if err != nil || len(got) == 0 {
			return
		}
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("re-encoding %v: %v", got, err)
		}
		again, err := ParseReply(enc)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", enc, err)
		}
		if len(again) != len(got) {
			t.Fatalf("round trip changed the length: %v -> %v", got, again)
		}
		for i := range got {
			if !maps.Equal(got[i], again[i]) {
				t.Fatalf("round trip changed item %d: %v -> %v", i, got[i], again[i])
			}
		}
	})
}

func TestMarkers(t *testing.T) {
	tests := []struct {
		comment string
		owned   bool
		forward string
	}{
		{"HAIRPIN:v1:wan", true, ""},
		{"HAIRPIN:v1:masq", true, ""},
		{"HAIRPIN:v1:dnat:front-cam:tcp", true, "front-cam"},
		{"HAIRPIN:v1:dnat-wanif:front-cam:udp", true, "front-cam"},
		{"HAIRPIN:v1:dnat:shifted:tcp:7000", true, "shifted"},
		{"front camera hairpin", false, ""},
		{"hairpin", false, ""},
		{"HAIRPIN:v1:dnat:front-cam:tcp edited by bob", false, ""},
		{"hairpin:v1:wan", false, ""},
		{"HAIRPIN:v2:wan", false, ""},
		{"HAIRPIN:v1:dnat:Front:tcp", false, ""},
		{"HAIRPIN:v1:dnat:front-cam:icmp", false, ""},
		{"", false, ""},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := owned(tt.comment); got != tt.owned {
				t.Errorf("owned(%q) = %v", tt.comment, got)
			}
			if got := forwardOf(tt.comment); got != tt.forward {
				t.Errorf("forwardOf(%q) = %q", tt.comment, got)
			}
		})
	}
}

func TestShadows(t *testing.T) {
	ours := Entry{"chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "dst-port": "8090", "dst-address-list": ListWAN}
	tests := []struct {
		name string
		f    Entry
		want bool
	}{
		{"same port", Entry{"chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "dst-port": "8090"}, true},
		{"port in a list", Entry{"chain": "dstnat", "action": "dst-nat", "dst-port": "80,8000-8100"}, true},
		{"other port", Entry{"chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "dst-port": "8091"}, false},
		{"other protocol", Entry{"chain": "dstnat", "action": "dst-nat", "protocol": "udp", "dst-port": "8090"}, false},
		{"negated port", Entry{"chain": "dstnat", "action": "dst-nat", "dst-port": "!22"}, true},
		{"catch-all DMZ", Entry{"chain": "dstnat", "action": "dst-nat", "in-interface": "ether1"}, true},
		{"exemption", Entry{"chain": "dstnat", "action": "accept"}, false},
		{"other chain", Entry{"chain": "srcnat", "action": "masquerade"}, false},
		{"disabled", Entry{"chain": "dstnat", "action": "dst-nat", "disabled": "true"}, false},
		{"dynamic", Entry{"chain": "dstnat", "action": "dst-nat", "dynamic": "true"}, false},
		{"ours", Entry{"chain": "dstnat", "action": "dst-nat", "comment": "HAIRPIN:v1:masq"}, false},
		{"redirect", Entry{"chain": "dstnat", "action": "redirect", "protocol": "tcp"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shadows(tt.f, ours); got != tt.want {
				t.Errorf("%s: shadows = %v", tt.name, got)
			}
		})
	}
}

// TestParseReplyBounded: a reply within the byte cap but with more items or properties than any answer to
// hairpin's requests is refused before it is decoded, with little memory whatever its size; the control is a
// reply of exactly the limit, which parses.
func TestParseReplyBounded(t *testing.T) {
	items := func(n int, item string) []byte {
		b := make([]byte, 0, n*(len(item)+1)+2)
		b = append(b, '[')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, item...)
		}
		return append(b, ']')
	}
	wide := []byte("{")
	for i := range maxItemProperties + 1 {
		if i > 0 {
			wide = append(wide, ',')
		}
		wide = fmt.Appendf(wide, `"p%d":"v"`, i)
	}
	wide = append(wide, '}')
	wide21 := `{"a":"b"` + strings.Repeat(`,"c":"d"`, 20) + "}"
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"too many items", items(maxReplyItems+1, `{"a":"b"}`), "more than 200000 items"},
		{"too many properties", items(maxReplyItems/2, wide21), "more than 2000000 properties"},
		{"one item too wide", wide, "more than 512 properties"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := ParseReply(tt.body)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%d items, err = %v; want %q", len(got), err, tt.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
				t.Errorf("refusing a %d-byte reply allocated %d bytes: it was decoded first", len(tt.body), alloc)
			}
		})
	}
	t.Run("control: the limit itself", func(t *testing.T) {
		got, err := ParseReply(items(maxReplyItems, `{".id":"*1"}`))
		if err != nil || len(got) != maxReplyItems {
			t.Fatalf("%d items, %v", len(got), err)
		}
	})
}

// TestClientStopsReadingOversizedReply: a server answering with an endless list of {"a":"b"} (32 MiB within the
// byte cap made `hairpin apply` take 10 GB) is cut off at the first item past the limit: the error says why,
// and the server has written little more than the limit's worth of bytes.
func TestClientStopsReadingOversizedReply(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat(`{"a":"b"},`, 1000))
		if n, err := w.Write([]byte("[")); err != nil || n != 1 {
			return
		}
		for sent.Load() < 64<<20 {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := newClient(&config.RouterOS{URL: srv.URL, Username: "u", PasswordFile: "/p"}, "pw", &tls.Config{InsecureSkipVerify: true}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.do(context.Background(), http.MethodGet, "/ip/address", nil, nil)
	var re *Error
	if !errors.As(err, &re) || re.Kind != BadReply || !strings.Contains(err.Error(), "more than 200000 items") {
		t.Fatalf("err = %v, want a bad reply over the item limit", err)
	}
	if n := sent.Load(); n > 8<<20 {
		t.Errorf("the server wrote %d bytes before the client stopped reading; the limit is reached after about 2 MB", n)
	}
}
