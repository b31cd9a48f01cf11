package xmltree

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	doc := `<?xml version="1.0"?>
<!-- a comment -->
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">
<NewExternalIPAddress>203.0.113.<![CDATA[7]]></NewExternalIPAddress><Empty/><Amp>a &amp; b &#65;</Amp>
</u:GetExternalIPAddressResponse></s:Body></s:Envelope>trailing garbage <<<`
	e, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "Envelope" || e.Space != "http://schemas.xmlsoap.org/soap/envelope/" {
		t.Errorf("root %s %s", e.Space, e.Name)
	}
	a := e.Path("Body", "GetExternalIPAddressResponse")
	if a == nil || a.Space != "urn:schemas-upnp-org:service:WANIPConnection:2" {
		t.Fatalf("answer element %+v", a)
	}
	for _, c := range []struct{ path, want string }{
		{"NewExternalIPAddress", "203.0.113.7"},
		{"Empty", ""},
		{"Amp", "a & b A"},
		{"Missing", ""},
	} {
		if got := a.TextOf(c.path); got != c.want {
			t.Errorf("%s = %q, want %q", c.path, got, c.want)
		}
	}
	if e.Path("Body", "Missing", "Deeper") != nil || e.Child("Nothing").All("x") != nil {
		t.Error("a missing path is not nil")
	}
}

func TestParseRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":             "",
		"only a comment":    "<!-- x -->",
		"unclosed":          "<a><b>x</b>",
		"mismatched":        "<a><b>x</a></b>",
		"undefined entity":  `<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`,
		"illegal character": "<a>\x1b</a>",
		"too deep":          strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1),
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Parse([]byte(strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth))); err != nil {
		t.Errorf("MaxDepth levels: %v", err)
	}
}

func TestInt(t *testing.T) {
	for text, want := range map[string]int{"": 0, "7": 7, " 718 ": 718, "\n-3\n": -3} {
		if got, err := Int(text); err != nil || got != want {
			t.Errorf("Int(%q) = %d, %v", text, got, err)
		}
	}
	for _, text := range []string{" ", "x", "1.5", "99999999999999999999"} {
		if _, err := Int(text); err == nil {
			t.Errorf("Int(%q) accepted", text)
		}
	}
}

func TestEscapeText(t *testing.T) {
	if got := EscapeText(`a<b>&"c'`); got != "a&lt;b&gt;&amp;&#34;c&#39;" {
		t.Errorf("got %q", got)
	}
}

// FuzzParse holds Parse to encoding/xml's Unmarshal, which reads the same tokens: both accept or both refuse
// (but for nesting past MaxDepth), with the same document element and text.
func FuzzParse(f *testing.F) {
	f.Add(`<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><URLBase>http://192.0.2.1/</URLBase><device/></root>`)
	f.Add(`<interface-response><ErrCount>1</ErrCount><errors><Err1>Passwords do not match</Err1></errors></interface-response>`)
	f.Add(`<a>x<![CDATA[<y>]]>&lt;<b>z</b>w</a>tail`)
	f.Fuzz(func(t *testing.T, doc string) {
		e, err := Parse([]byte(doc))
		var u struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		}
		uerr := xml.Unmarshal([]byte(doc), &u)
		if err != nil {
			if uerr == nil && !strings.Contains(err.Error(), "nested deeper") {
				t.Fatalf("refused what encoding/xml accepts: %v", err)
			}
			return
		}
		if uerr != nil {
			t.Fatalf("accepted what encoding/xml refuses: %v", uerr)
		}
		if e.Name != u.XMLName.Local || e.Space != u.XMLName.Space || e.Text != u.Text {
			t.Fatalf("read <%s %s> %q, encoding/xml <%s %s> %q", e.Space, e.Name, e.Text, u.XMLName.Space, u.XMLName.Local, u.Text)
		}
	})
}
