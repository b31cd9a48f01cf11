package rostest

import (
	"encoding/json"
	"io"
	"net/http"
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
