package upnp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const descXML = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>%s</controlURL><eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`

func fault(code int, text string) string {
	return fmt.Sprintf(`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code, text)
}

func okAnswer(action, inner string) string {
	return `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:` + action +
		`Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">` + inner + `</u:` + action + `Response></s:Body></s:Envelope>`
}

// fakeIGD serves a description and answers SOAP actions with what answer returns.
type fakeIGD struct {
	*httptest.Server
	mu      sync.Mutex
	control string
	answer  func(action, body string) (int, string)
	calls   []string
}

func newFakeIGD(t *testing.T) *fakeIGD {
	f := &fakeIGD{control: "/ctl"}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, descXML, f.control)
			return
		}
		body, _ := io.ReadAll(r.Body)
		action := r.Header.Get("SOAPAction")
		action = action[strings.LastIndex(action, "#")+1 : len(action)-1]
		f.calls = append(f.calls, action+" "+string(body))
		code, out := f.answer(action, string(body))
		w.WriteHeader(code)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIGD) client(t *testing.T) *Client {
	t.Helper()
	u, _ := url.Parse(f.URL + "/rootDesc.xml")
	c := &Client{Gateway: netip.MustParseAddr("127.0.0.1")}
	if err := c.ConnectURL(context.Background(), u, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMapRetriesPermanentAndReportsConflict(t *testing.T) {
	f := newFakeIGD(t)
	f.answer = func(action, body string) (int, string) {
		switch {
		case action == "AddPortMapping" && strings.Contains(body, "<NewExternalPort>8090<") && !strings.Contains(body, "<NewLeaseDuration>0<"):
			return 500, fault(CodeOnlyPermanentLeases, "OnlyPermanentLeasesSupported")
		case action == "AddPortMapping" && strings.Contains(body, "<NewExternalPort>8091<"):
			return 500, fault(CodeConflict, "ConflictInMappingEntry")
		case action == "GetExternalIPAddress":
			return 200, okAnswer(action, "<NewExternalIPAddress>11.12.13.2</NewExternalIPAddress>")
		}
		return 200, okAnswer(action, "")
	}
	c := f.client(t)
	if c.Service != "WANIPConnection:2" {
		t.Errorf("service %q", c.Service)
	}
	lease, err := c.Map(context.Background(), "TCP", 8090, netip.MustParseAddr("192.168.1.2"), "hairpin cam", 3600)
	if err != nil || lease != 0 {
		t.Fatalf("725 must be retried with lease 0: lease %d, %v", lease, err)
	}
	_, err = c.Map(context.Background(), "TCP", 8091, netip.MustParseAddr("192.168.1.2"), "hairpin cam", 3600)
	var fl *Fault
	if err == nil || !strings.Contains(err.Error(), "718") || !asFault(err, &fl) || !fl.Conflict() {
		t.Fatalf("718: %v", err)
	}
	if a, err := c.External(context.Background()); err != nil || a.String() != "11.12.13.2" {
		t.Fatalf("external %v %v", a, err)
	}
}

func asFault(err error, f **Fault) bool {
	for err != nil {
		if x, ok := err.(*Fault); ok {
			*f = x
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestHostileGateway: answers that redirect, are too large, or point away from the gateway are refused.
func TestHostileGateway(t *testing.T) {
	t.Run("control URL on another host", func(t *testing.T) {
		f := newFakeIGD(t)
		f.control = "http://192.0.2.1/ctl"
		u, _ := url.Parse(f.URL + "/rootDesc.xml")
		c := &Client{Gateway: netip.MustParseAddr("127.0.0.1")}
		if err := c.ConnectURL(context.Background(), u, ""); err == nil {
			t.Fatal("a control URL away from the gateway was accepted")
		}
	})
	t.Run("description on another host", func(t *testing.T) {
		c := &Client{Gateway: netip.MustParseAddr("127.0.0.1")}
		u, _ := url.Parse("http://192.0.2.1:5000/rootDesc.xml")
		if err := c.ConnectURL(context.Background(), u, ""); err == nil || !strings.Contains(err.Error(), "away from the gateway") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		f := newFakeIGD(t)
		c := f.client(t)
		f.answer = func(string, string) (int, string) { return 0, "" }
		f.Config.Handler = http.RedirectHandler("http://192.0.2.1/", http.StatusFound)
		if _, err := c.External(context.Background()); err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("huge answer", func(t *testing.T) {
		f := newFakeIGD(t)
		c := f.client(t)
		f.answer = func(action, _ string) (int, string) {
			return 200, okAnswer(action, "<NewExternalIPAddress>"+strings.Repeat("1", 2*MaxBody)+"</NewExternalIPAddress>")
		}
		if _, err := c.External(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("entity expansion", func(t *testing.T) {
		f := newFakeIGD(t)
		c := f.client(t)
		bomb := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>` +
			`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="x"><NewExternalIPAddress>&lol2;</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`
		f.answer = func(string, string) (int, string) { return 200, bomb }
		if _, err := c.External(context.Background()); err == nil {
			t.Fatal("an answer with entities was accepted")
		}
	})
	t.Run("garbage address", func(t *testing.T) {
		f := newFakeIGD(t)
		c := f.client(t)
		f.answer = func(action, _ string) (int, string) {
			return 200, okAnswer(action, "<NewExternalIPAddress>\x1b[31mnot-an-ip</NewExternalIPAddress>")
		}
		_, err := c.External(context.Background())
		if err == nil || strings.ContainsRune(err.Error(), 0x1b) {
			t.Fatalf("err = %q", err)
		}
	})
}

func TestParseSSDP(t *testing.T) {
	gw := netip.MustParseAddr("192.168.1.1")
	good := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nUSN: uuid:x\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\nBOOTID.UPNP.ORG: 7\r\n\r\n"
	f, err := ParseSSDP([]byte(good), gw)
	if err != nil || f.Location.Host != "192.168.1.1:5000" || f.BootID != "7" {
		t.Fatalf("%+v %v", f, err)
	}
	for name, b := range map[string]string{
		"location elsewhere": strings.Replace(good, "192.168.1.1:5000", "192.0.2.1:5000", 1),
		"location by name":   strings.Replace(good, "192.168.1.1:5000", "router.lan:5000", 1),
		"https location":     strings.Replace(good, "http://", "https://", 1),
		"not an IGD":         strings.Replace(good, "InternetGatewayDevice:2", "MediaServer:1", 1),
		"error status":       strings.Replace(good, "200 OK", "404 Not Found", 1),
		"request":            "M-SEARCH * HTTP/1.1\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n\r\n",
		"too long":           good + strings.Repeat("x", MaxDatagram),
		"garbage":            "\x00\x01",
	} {
		if _, err := ParseSSDP([]byte(b), gw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseSSDP(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"))
	gw := netip.MustParseAddr("192.168.1.1")
	f.Fuzz(func(t *testing.T, b []byte) {
		found, err := ParseSSDP(b, gw)
		if err != nil {
			return
		}
		if found.Location == nil || found.Location.Hostname() != "192.168.1.1" || found.Location.Scheme != "http" {
			t.Fatalf("followed %v", found.Location)
		}
	})
}

// FuzzSOAPAnswer feeds arbitrary SOAP answers to the calls hairpin makes: no panic,
// and an accepted external address is an IPv4 address.
func FuzzSOAPAnswer(f *testing.F) {
	f.Add(200, okAnswer("GetExternalIPAddress", "<NewExternalIPAddress>11.12.13.2</NewExternalIPAddress>"))
	f.Add(500, fault(718, "ConflictInMappingEntry"))
	f.Add(500, fault(725, "OnlyPermanentLeasesSupported"))
	f.Add(200, "<a><b><c>")
	igd := newFakeIGD(&testing.T{})
	defer igd.Close()
	var mu sync.Mutex
	var code int
	var body string
	igd.answer = func(string, string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		return code, body
	}
	u, _ := url.Parse(igd.URL + "/rootDesc.xml")
	c := &Client{Gateway: netip.MustParseAddr("127.0.0.1")}
	if err := c.ConnectURL(context.Background(), u, ""); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, answer string) {
		if status < 200 || status > 599 {
			status = 500
		}
		mu.Lock()
		code, body = status, answer
		mu.Unlock()
		if a, err := c.External(context.Background()); err == nil && !a.Is4() {
			t.Fatalf("accepted %v", a)
		}
		_, _ = c.Map(context.Background(), "TCP", 8090, netip.MustParseAddr("192.168.1.2"), "hairpin x", 60)
		_, _ = c.Has(context.Background(), "TCP", 8090, netip.MustParseAddr("192.168.1.2"), "hairpin ")
	})
}
