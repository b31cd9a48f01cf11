package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// oracle reads doc with encoding/xml's tokenizer into the same tree: the reading Parse is held to.
func oracle(doc []byte, charset func(string) error) (*Element, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	if charset != nil {
		d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) { return in, charset(label) }
	}
	var stack []*Element
	var text [][]byte
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := &Element{Space: t.Name.Space, Name: t.Name.Local}
			if n := len(stack); n > 0 {
				stack[n-1].Children = append(stack[n-1].Children, e)
			}
			stack, text = append(stack, e), append(text, nil)
		case xml.CharData:
			if n := len(text); n > 0 {
				text[n-1] = append(text[n-1], t...)
			}
		case xml.EndElement:
			n := len(stack) - 1
			stack[n].Text = string(text[n])
			if n == 0 {
				return stack[0], nil
			}
			stack, text = stack[:n], text[:n]
		}
	}
}

func dump(e *Element) string {
	var b strings.Builder
	var walk func(e *Element, depth int)
	walk = func(e *Element, depth int) {
		fmt.Fprintf(&b, "%*s{%s}%s %q\n", 2*depth, "", e.Space, e.Name, e.Text)
		for _, c := range e.Children {
			walk(c, depth+1)
		}
	}
	walk(e, 0)
	return b.String()
}

// Documents of the shapes hairpin reads, as the peers send them.
var samples = []string{
	`<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<URLBase>http://192.168.1.1:5000/</URLBase>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>
<deviceList><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>
<controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList></device></deviceList></device></root>`,
	`<?xml version="1.0"?>` + "\r\n" + `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
	`<?xml version="1.0" encoding="UTF-8"?>
<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ResourceRecordSets><ResourceRecordSet><Name>home.example.net.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`,
	"<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<interface-response>\r\n  <Command>SETDNSHOST</Command>\r\n  <ErrCount>1</ErrCount>\r\n  <errors>\r\n    <Err1>Passwords do not match</Err1>\r\n  </errors>\r\n  <Done>true</Done>\r\n</interface-response>\r\n",
	`<!-- c --><?pi x?><a xmlns:p="urn:p" xmlns="urn:d"><p:b>x<![CDATA[<&>]]>y&lt;&#65;&#x42;&amp;&apos;&quot;</p:b><c/><q:d xmlns:q="urn:q" attr='1'/><xml:e/><u:f/></a>tail`,
	"<a>line\r\nnext\rlast <b>\r</b></a>",
	"<a><b xmlns='urn:inner'><c/></b><c/></a>",
}

func TestParseAgreesWithEncodingXML(t *testing.T) {
	label := func(string) error { return nil }
	for i, doc := range samples {
		want, err := oracle([]byte(doc), label)
		if err != nil {
			t.Fatalf("sample %d: encoding/xml: %v", i, err)
		}
		got, err := ParseCharset([]byte(doc), label)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if dump(got) != dump(want) {
			t.Errorf("sample %d:\n%s\nencoding/xml:\n%s", i, dump(got), dump(want))
		}
	}
}

func TestParse(t *testing.T) {
	e, err := Parse([]byte(samples[4]))
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "a" || e.Space != "urn:d" {
		t.Errorf("root {%s}%s", e.Space, e.Name)
	}
	for _, c := range []struct{ path, space, text string }{
		{"b", "urn:p", `x<&>y<AB&'"`},
		{"c", "urn:d", ""},
		{"d", "urn:q", ""},
		{"e", "http://www.w3.org/XML/1998/namespace", ""},
		{"f", "u", ""}, // an undeclared prefix stands for itself, as in encoding/xml
	} {
		if got := e.Child(c.path); got == nil || got.Space != c.space || got.Text != c.text {
			t.Errorf("%s = %+v, want {%s} %q", c.path, got, c.space, c.text)
		}
	}
	if e.Path("b", "Missing", "Deeper") != nil || e.Child("Nothing").All("x") != nil || e.TextOf("Nothing", "x") != "" {
		t.Error("a missing path is not nil")
	}
}

func TestParseRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":               "",
		"only a comment":      "<!-- x -->",
		"unclosed":            "<a><b>x</b>",
		"mismatched":          "<a><b>x</a></b>",
		"another prefix":      `<p:a xmlns:p="u" xmlns:q="u"></q:a>`,
		"entity":              `<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`,
		"undefined entity":    `<a>&e;</a>`,
		"bad reference":       `<a>&#xZZ;</a>`,
		"NUL by reference":    `<a>&#0;</a>`,
		"illegal character":   "<a>\x1b</a>",
		"invalid UTF-8":       "<a>\xff</a>",
		"]]> in text":         "<a>]]></a>",
		"-- in a comment":     "<a><!-- a -- b --></a>",
		"unquoted attribute":  "<a x=1></a>",
		"< in an attribute":   `<a x="<"></a>`,
		"XML 1.1":             `<?xml version="1.1"?><a/>`,
		"another encoding":    `<?xml version="1.0" encoding="koi8-r"?><a/>`,
		"encoding found late": `<?xml encodingX encoding="koi8-r"?><a/>`,
		"element xmlns":       "<xmlns/>",
		"too deep":            strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1),
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Parse([]byte(strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth))); err != nil {
		t.Errorf("MaxDepth levels: %v", err)
	}
	refuse := errors.New("no")
	if _, err := ParseCharset([]byte(`<?xml version="1.0" encoding="utf-16"?><a/>`), func(string) error { return refuse }); !errors.Is(err, refuse) {
		t.Errorf("the charset's refusal: %v", err)
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

func FuzzEscapeText(f *testing.F) {
	f.Add("a<b>&\"c'\t\n\r\x00\xff\uFFFD")
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		_ = xml.EscapeText(&want, []byte(s))
		if got := EscapeText(s); got != want.String() {
			t.Fatalf("EscapeText(%q) = %q, xml.EscapeText %q", s, got, want.String())
		}
	})
}

// FuzzParse holds Parse to encoding/xml: what Parse accepts, encoding/xml reads as the same tree; what
// encoding/xml refuses, Parse refuses. (Parse may refuse more: a DOCTYPE, names outside ASCII, ...)
func FuzzParse(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Add(`<a>x<![CDATA[<y>]]>&lt;<b>z</b>w</a>tail`)
	label := func(l string) error {
		if strings.EqualFold(l, "utf-16") {
			return nil
		}
		return errors.New("no")
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := ParseCharset([]byte(doc), label)
		want, werr := oracle([]byte(doc), label)
		switch {
		case err != nil && werr != nil:
		case err != nil:
			// Refusing more than encoding/xml is allowed, not nesting deeper than MaxDepth.
		case werr != nil:
			t.Fatalf("accepted what encoding/xml refuses (%v):\n%s", werr, dump(got))
		case dump(got) != dump(want):
			t.Fatalf("read\n%s\nencoding/xml read\n%s", dump(got), dump(want))
		}
	})
}
