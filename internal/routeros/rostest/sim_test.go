package rostest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// call sends one request as admin:pw and returns the status and body.
func call(t *testing.T, r *Router, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.URL()+"/rest"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "pw")
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data))
}

func TestDocumentedBehaviour(t *testing.T) {
	r := New(t, "admin", "pw")
	a := r.Add(Address, Entry{"address": "10.0.0.111/24", "interface": "ether2"})
	r.Add(Address, Entry{"address": "10.0.0.109/24", "interface": "ether3", "disabled": "true"})
	r.Add(Address, Entry{"address": "192.168.99.2/24", "interface": "dummy", "comment": "test"})
	steps := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/ip/address?.proplist=address,disabled", "", 200, `[{"address":"10.0.0.111/24","disabled":"false"},{"address":"10.0.0.109/24","disabled":"true"},{"address":"192.168.99.2/24","disabled":"false"}]`},
		{"GET", "/ip/address?comment=test&interface=dummy&.proplist=.id", "", 200, `[{".id":"*3"}]`},
		{"GET", "/ip/address/" + a + "?.proplist=network", "", 200, `"network":"10.0.0.0"`},
		{"PATCH", "/ip/address/*3", `{"comment":"changed"}`, 200, `"comment":"changed"`},
		{"PUT", "/ip/address", `{"address":"192.168.111.111/32","interface":"dummy"}`, 200, `".id":"*4"`},
		{"DELETE", "/ip/address/*4", "", 204, ``},
		{"DELETE", "/ip/address/*4", "", 404, `{"error":404,"message":"Not Found"}`},
		{"POST", "/ip/address/print", `{".proplist":[".id","address"],".query":["network=10.0.0.0","interface=dummy","#|"]}`, 200,
			`[{".id":"*1","address":"10.0.0.111/24"},{".id":"*2","address":"10.0.0.109/24"},{".id":"*3","address":"192.168.99.2/24"}]`},
		{"POST", "/ip/address/print", `{".proplist":".id",".query":["interface=ether2","#!"]}`, 200, `[{".id":"*2"},{".id":"*3"}]`},
		{"POST", "/ip/address/print", `{".proplist":".id",".query":["comment","-comment","#|","disabled=true","#&"]}`, 200, `[{".id":"*2"}]`},
		{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","action":"dst-nat","dst-port":"8090","place-before":"*99"}`, 400, `"detail":"no such item"`},
		{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","bogus":"1"}`, 400, `"detail":"unknown parameter bogus"`},
		{"PUT", "/ip/firewall/nat", `{"action":"masquerade"}`, 400, `missing value(s) of argument(s) chain`},
		{"PUT", "/ip/firewall/nat", `{"chain":"srcnat","comment":"first"}`, 200, `".id":"*1"`},
		{"PUT", "/ip/firewall/nat", `{"chain":"srcnat","comment":"second","place-before":"*1"}`, 200, `".id":"*2"`},
		{"POST", "/ip/firewall/nat/move", `{"numbers":"*1","destination":"*2"}`, 200, `[]`},
		{"GET", "/ip/firewall/nat?.proplist=comment", "", 200, `[{"comment":"first"},{"comment":"second"}]`},
		{"PUT", "/ip/firewall/address-list", `{"list":"l","address":"192.0.2.1"}`, 200, `"list":"l"`},
		{"PUT", "/ip/firewall/address-list", `{"list":"l","address":"192.0.2.1"}`, 400, `already have such entry`},
		{"GET", "/ip/cloud", "", 200, `"public-address":""`},
		{"GET", "/ip/firewall/nat/print", "", 400, `no such command`},
		{"GET", "/nonexistent/path", "", 400, `no such command or directory (nonexistent)`},
		{"POST", "/ip/firewall/nat/remove", `{".id":"*1"}`, 200, `[]`},
		{"PATCH", "/ip/firewall/nat/*2", `{"chain":7}`, 200, `"chain":"7"`},
		{"PATCH", "/ip/firewall/nat/*2", `{"chain":{}}`, 400, `invalid value for argument chain`},
	}
	for _, s := range steps {
		status, body := call(t, r, s.method, s.path, s.body)
		if status != s.status || !strings.Contains(body, s.want) {
			t.Errorf("%s %s %s: %d %s\nwant %d containing %s", s.method, s.path, s.body, status, body, s.status, s.want)
		}
		if status >= 400 && status != 404 {
			var e map[string]any
			if json.Unmarshal([]byte(body), &e) != nil || e["error"] != float64(status) {
				t.Errorf("%s %s: error body %s", s.method, s.path, body)
			}
		}
	}
	reads, writes := r.Counts()
	if reads != 10 || writes != 15 {
		t.Errorf("counts: %d reads, %d writes", reads, writes)
	}
}

func TestAuthAndInjectedFailures(t *testing.T) {
	r := New(t, "admin", "pw")
	req, _ := http.NewRequest("GET", r.URL()+"/rest/ip/address", nil)
	req.SetBasicAuth("admin", "nope")
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || strings.TrimSpace(string(data)) != `{"error":401,"message":"Unauthorized"}` {
		t.Errorf("wrong password: %d %s", resp.StatusCode, data)
	}
	r.FailWrite(2, 500, "boom")
	if status, _ := call(t, r, "PUT", "/ip/firewall/nat", `{"chain":"srcnat"}`); status != 200 {
		t.Errorf("first write: %d", status)
	}
	if status, body := call(t, r, "PUT", "/ip/firewall/nat", `{"chain":"srcnat"}`); status != 500 || !strings.Contains(body, "boom") {
		t.Errorf("second write: %d %s", status, body)
	}
	if len(r.Items(NAT)) != 1 {
		t.Errorf("the failed write took effect: %v", r.Items(NAT))
	}
	if got := r.Requests(); len(got) != 3 || got[2] != "PUT /ip/firewall/nat" {
		t.Errorf("requests: %v", got)
	}
}

// TestStrictSchema checks that requests are judged by the routers' own schema of the chosen release, with the
// router's wording.
func TestStrictSchema(t *testing.T) {
	type step struct {
		method, path, body string
		status             int
		want               string
	}
	both := []step{
		// The rule hairpin used to write: /ip firewall nat has no connection-nat-state in any release.
		{"PUT", "/ip/firewall/nat", `{"chain":"srcnat","action":"masquerade","src-address-list":"hairpin-lan","dst-address-list":"hairpin-lan","connection-nat-state":"dstnat"}`,
			400, `{"detail":"unknown parameter connection-nat-state","error":400,"message":"Bad Request"}`},
		{"PUT", "/ip/firewall/mangle", `{"chain":"postrouting","action":"mark-connection","new-connection-mark":"m","passthrough":"yes","connection-nat-state":"dstnat","connection-mark":"no-mark"}`,
			200, `"passthrough":"true"`},
		{"PUT", "/ip/firewall/nat", `{"chain":"srcnat","action":"masquerade","connection-mark":"m"}`, 200, `".id":"*2"`},
		{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","action":"dst-nap"}`, 400, `"detail":"input does not match any value of action"`},
		{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","action":"dst-nat","protocol":"tcp,udp"}`, 400, `input does not match any value of protocol`},
		{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","action":"dst-nat","protocol":"6","comment":"numeric"}`, 200, `"protocol":"6"`},
		{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","disabled":"maybe"}`, 400, `value of disabled must be yes or no`},
		{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","in-interface":"ether1 - uplink","comment":"spaces"}`, 200, `"in-interface":"ether1 - uplink"`},
		{"PATCH", "/ip/firewall/nat/*1", `{"place-before":"*2"}`, 400, `unknown parameter place-before`},
		{"POST", "/ip/firewall/nat/set", `{".id":"*1","place-before":"*2"}`, 400, `unknown parameter place-before`},
		{"PUT", "/ip/firewall/address-list", `{"list":"l","address":"192.0.2.1","place-before":"*1"}`, 400, `unknown parameter place-before`},
		{"PUT", "/ip/firewall/address-list", `{"list":"l","address":"192.0.2.1"}`, 200, `"list":"l"`},
		{"PUT", "/ip/firewall/address-list", `{"list":"l","address":"192.0.2.1","comment":"again"}`, 400, `{"detail":"failure: already have such entry","error":400,"message":"Bad Request"}`},
		{"PATCH", "/ip/firewall/nat/*1", `{"protocol":""}`, 400, `input does not match any value of protocol`},
		{"PATCH", "/ip/firewall/nat/*1", `{"in-interface":""}`, 400, `ambiguous value of interface, more than one possible value matches input`},
		{"PATCH", "/ip/firewall/nat/*1", `{"dst-port":"80"}`, 200, `"dst-port":"80"`},
		{"PATCH", "/ip/firewall/nat/*1", `{"dst-port":""}`, 200, `"dst-port":""`},
		{"POST", "/ip/firewall/nat/unset", `{"numbers":"*1","value-name":"dst-port"}`, 200, `[]`},
		{"GET", "/ip/firewall/nat/*1?.proplist=dst-port,chain", "", 200, `{"chain":"srcnat"}`},
		{"POST", "/ip/firewall/nat/unset", `{"numbers":"*1","value-name":"bogus"}`, 400, `input does not match any value of value-name`},
		{"POST", "/ip/firewall/nat/print", `{".proplist":".id","where":"","bogus":"1"}`, 400, `unknown parameter bogus`},
		{"POST", "/ip/firewall/nat/move", `{"numbers":"*1","destination":"*2","place-before":"*2"}`, 400, `unknown parameter place-before`},
		{"POST", "/ip/cloud/add", `{}`, 400, `no such command`},
		{"PUT", "/system/scheduler", `{"name":"s","start-time":"startup","interval":"1m","policy":"read,write,test","on-event":"x"}`, 200, `"name":"s"`},
		{"PUT", "/system/script", `{"name":"s","policy":"read,write,rest-api","source":""}`, 400, `input does not match any value of policy`},
		// The WAN's events: a DHCP client's lease script, a PPP profile's on-up and address list.
		{"PUT", "/ip/dhcp-client", `{"interface":"ether1","script":":log info x"}`, 200, `"script":":log info x"`},
		{"PUT", "/ip/dhcp-client", `{"interface":"ether2","on-up":"x"}`, 400, `unknown parameter on-up`},
		{"PUT", "/ppp/profile", `{"name":"isp","address-list":"hairpin-wan","on-up":"x"}`, 200, `"address-list":"hairpin-wan"`},
		{"PUT", "/ppp/profile", `{"name":"isp2","script":"x"}`, 400, `unknown parameter script`},
		{"POST", "/ip/firewall/connection/remove", `{"numbers":"*1","bogus":"1"}`, 400, `unknown parameter bogus`},
		{"PUT", "/user/group", `{"name":"hairpin","policy":"read,write,api,rest-api"}`, 200, `"policy":"read,write,api,rest-api"`},
		{"PUT", "/user/group", `{"name":"hairpin2","policy":"read,write,restapi"}`, 400, `input does not match any value of policy`},
		{"PUT", "/ipv6/firewall/filter", `{"chain":"forward","action":"accept","connection-nat-state":"dstnat"}`, 200, `"connection-nat-state":"dstnat"`},
	}
	versioned := map[string][]step{
		"7.9": {
			{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","tls-host":"x"}`, 200, `"tls-host":"x"`},
			{"PUT", "/ip/firewall/mangle", `{"chain":"forward","tos":"1"}`, 400, `unknown parameter tos`},
		},
		Newest(): {
			{"PUT", "/ip/firewall/nat", `{"chain":"dstnat","tls-host":"x"}`, 400, `unknown parameter tls-host`},
			{"PUT", "/ip/firewall/mangle", `{"chain":"forward","tos":"1"}`, 200, `"tos":"1"`},
		},
	}
	for _, v := range []string{Oldest(), Newest()} {
		t.Run(v, func(t *testing.T) {
			r := New(t, "admin", "pw", WithVersion(v))
			r.Add(NAT, Entry{"chain": "srcnat", "comment": "placeholder *2"})
			for _, s := range append(slices.Clone(both), versioned[v]...) {
				status, body := call(t, r, s.method, s.path, s.body)
				if status != s.status || !strings.Contains(body, s.want) {
					t.Errorf("%s %s %s: %d %s\nwant %d containing %s", s.method, s.path, s.body, status, body, s.status, s.want)
				}
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	r := New(t, "admin", "pw")
	for _, tt := range []struct {
		name               string
		policies           []string
		readCode, writeCod int
	}{
		{"full", []string{PolicyRead, PolicyWrite, PolicyAPI, PolicyRESTAPI}, 200, 200},
		{"read only", []string{PolicyRead, PolicyAPI, PolicyRESTAPI}, 200, 403},
		{"no rest-api", []string{PolicyRead, PolicyWrite, PolicyAPI}, 403, 403},
		{"no read", []string{PolicyWrite, PolicyAPI, PolicyRESTAPI}, 403, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r.SetPolicies(tt.policies...)
			if status, body := call(t, r, "GET", "/ip/address?.proplist=address", ""); status != tt.readCode {
				t.Errorf("read: %d %s", status, body)
			}
			status, body := call(t, r, "PUT", "/ip/firewall/nat", `{"chain":"srcnat"}`)
			if status != tt.writeCod {
				t.Errorf("write: %d %s", status, body)
			}
			if status == 403 && body != `{"detail":"not enough permissions","error":403,"message":"Forbidden"}` {
				t.Errorf("403 body: %s", body)
			}
		})
	}
}

// TestRawControlCharacters shows that a comment with an escape byte is served as RouterOS serves it: raw
// inside the JSON string, which makes the answer invalid JSON.
func TestRawControlCharacters(t *testing.T) {
	r := New(t, "admin", "pw")
	r.Add(NAT, Entry{"chain": "dstnat", "comment": "cam \x1b[31mred\x1b[0m"})
	status, body := call(t, r, "GET", "/ip/firewall/nat?.proplist=comment", "")
	if status != 200 || !strings.Contains(body, "\x1b[31m") {
		t.Fatalf("%d %q", status, body)
	}
	if json.Valid([]byte(body)) {
		t.Errorf("answer is valid JSON; RouterOS's is not: %q", body)
	}
}

func TestProplistAndBytesRecorded(t *testing.T) {
	r := New(t, "admin", "pw")
	r.Add(NAT, Entry{"chain": "dstnat"})
	call(t, r, "GET", "/ip/firewall/nat", "")
	call(t, r, "GET", "/ip/firewall/nat?.proplist=.id", "")
	call(t, r, "POST", "/ip/firewall/nat/print", `{".query":["chain=dstnat"]}`)
	call(t, r, "POST", "/ip/firewall/nat/print", `{".proplist":".id"}`)
	if got := r.ReadsWithoutProplist(); !slices.Equal(got, []string{"GET /ip/firewall/nat", "POST /ip/firewall/nat/print"}) {
		t.Errorf("reads without .proplist: %v", got)
	}
	if r.BytesServed() == 0 {
		t.Error("no bytes counted")
	}
}

func TestSchemaVersions(t *testing.T) {
	if Oldest() != "7.9" || Newest() != "7.24rc3" || len(Versions()) != 60 {
		t.Errorf("schema releases: %s to %s, %d", Oldest(), Newest(), len(Versions()))
	}
	if _, err := LoadSchema("6.49"); err == nil {
		t.Error("RouterOS 6.49 accepted")
	}
	for _, v := range Versions() {
		s := MustSchema(v)
		if s.HasParam("ip/firewall/nat", "add", "connection-nat-state") {
			t.Errorf("%s: nat add has connection-nat-state", v)
		}
		if !s.HasParam("ip/firewall/mangle", "add", "connection-nat-state") || !s.HasParam("ip/firewall/mangle", "add", "new-connection-mark") {
			t.Errorf("%s: mangle add lacks connection-nat-state or new-connection-mark", v)
		}
	}
	if !inVersions([]string{"a", "b", "c", "d"}, "a-b, d", 3) || inVersions([]string{"a", "b", "c", "d"}, "a-b, d", 2) {
		t.Error("version ranges")
	}
}
