package upnp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"
	"github.com/hairpin-nat/hairpin/internal/xmltree"
)

// serviceURN prefixes the WAN connection services' types; serviceTypes are the ones hairpin uses, best first.
const serviceURN = "urn:schemas-upnp-org:service:"

var serviceTypes = []string{"WANIPConnection:2", "WANIPConnection:1", "WANPPPConnection:1"}

// service is one WAN connection service of the gateway's description.
type service struct {
	typ     string
	control *url.URL
	hc      *web.Client
}

// describe reads the device description at loc and lists every service of every device in it, with its
// control URL resolved against the description's URLBase, or loc when it has none (UPnP Device Architecture
// 1.0 §2.1). A control URL that does not parse is left nil.
func describe(ctx context.Context, hc *web.Client, loc *url.URL) ([]*service, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := web.NewRequest(ctx, web.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := refuseRedirect(resp); err != nil {
		return nil, err
	}
	if resp.StatusCode != web.StatusOK {
		return nil, errfmt.Errorf("got HTTP status %s from %s", truncate(resp.Status), loc)
	}
	b, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	root, err := xmltree.Parse(b)
	if err != nil {
		return nil, err
	}
	if root.Name != "root" {
		return nil, errfmt.Errorf("the description's document is <%s>, not <root>", truncate(root.Name))
	}
	base := loc
	if s := strings.TrimSpace(root.TextOf("URLBase")); s != "" {
		if base, err = url.Parse(s); err != nil {
			return nil, errfmt.Errorf("URLBase %q: %w", truncate(s), err)
		}
	}
	var out []*service
	var visit func(dev *xmltree.Element)
	visit = func(dev *xmltree.Element) {
		for _, s := range dev.Child("serviceList").All("service") {
			sv := &service{typ: strings.TrimSpace(s.TextOf("serviceType"))}
			sv.control, _ = base.Parse(strings.TrimSpace(s.TextOf("controlURL")))
			out = append(out, sv)
		}
		for _, d := range dev.Child("deviceList").All("device") {
			visit(d)
		}
	}
	visit(root.Child("device"))
	return out, nil
}

// call sends action with its arguments (name, value pairs, in the order of the action's definition) and
// returns the action's answer element. A UPnP error answer is a *Fault.
func (s *service) call(ctx context.Context, action string, args ...string) (*xmltree.Element, error) {
	if s.control == nil {
		return nil, errors.New("the service has no control URL")
	}
	var body bytes.Buffer
	body.WriteString(xmltree.Header + `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	fmt.Fprintf(&body, `<u:%s xmlns:u="%s">`, action, s.typ)
	for i := 0; i+1 < len(args); i += 2 {
		body.WriteString("<" + args[i] + ">" + xmltree.EscapeText(args[i+1]) + "</" + args[i] + ">")
	}
	fmt.Fprintf(&body, `</u:%s></s:Body></s:Envelope>`, action)
	req, err := web.NewRequest(ctx, web.MethodPost, s.control.String(), &body)
	if err != nil {
		return nil, err
	}
	// The header names as gateways have been seen to expect them (as goupnp and miniupnpc send them).
	req.Header["SOAPACTION"] = []string{`"` + s.typ + "#" + action + `"`}
	req.Header["CONTENT-TYPE"] = []string{`text/xml; charset="utf-8"`}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := refuseRedirect(resp); err != nil {
		return nil, err
	}
	if resp.StatusCode != web.StatusOK && resp.ContentLength == 0 {
		return nil, errfmt.Errorf("the gateway answered HTTP %s", truncate(resp.Status))
	}
	answer, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	env, err := xmltree.Parse(answer)
	if err != nil {
		return nil, errfmt.Errorf("the gateway's answer is not XML: %w", err)
	}
	const soapNS = "http://schemas.xmlsoap.org/soap/envelope/"
	b := env.Child("Body")
	if env.Name != "Envelope" || env.Space != soapNS || b == nil || b.Space != soapNS {
		return nil, errors.New("the gateway's answer is not a SOAP envelope")
	}
	if f := b.Child("Fault"); f != nil {
		e := f.Path("detail", "UPnPError")
		code, _ := xmltree.Int(e.TextOf("errorCode"))
		if code == 0 {
			return nil, errfmt.Errorf("SOAP fault %s %s", truncate(f.TextOf("faultcode")), truncate(f.TextOf("faultstring")))
		}
		return nil, &Fault{Code: code, Text: e.TextOf("errorDescription")}
	}
	if resp.StatusCode != web.StatusOK {
		return nil, errfmt.Errorf("the gateway answered HTTP %s", truncate(resp.Status))
	}
	if len(b.Children) == 0 {
		return nil, errfmt.Errorf("the gateway's answer to %s is empty", action)
	}
	return b.Children[0], nil
}

// refuseRedirect says so when the gateway answers with a redirect: web never follows one, and a gateway that
// sends one is pointing away from itself.
func refuseRedirect(resp *web.Response) error {
	if resp.StatusCode/100 != 3 {
		return nil
	}
	return errfmt.Errorf("the gateway answered with a redirect (HTTP %s); not followed", truncate(resp.Status))
}
