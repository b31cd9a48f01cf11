// Package hetzner keeps the A or AAAA record of a hostname in Hetzner's Cloud DNS (the zones and RRSets of
// the Cloud API v1), as its OpenAPI specification describes (docs.hetzner.cloud/cloud.spec.json; a copy in
// testdata, taken from a third-party SDK that vendors it, since Hetzner publishes it in no repository). The
// zone is found with GET /zones?name=, the RRSet read with GET /zones/{zone}/rrsets/{name}/{type}, replaced
// with the set_records action (or created with POST /zones/{zone}/rrsets), and the action the API answers
// with is polled (GET /zones/actions/{id}) until it succeeds: changes are asynchronous. A bearer token
// authenticates; RateLimit-Reset says when a 429 ends.
package hetzner

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the hetzner provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "hetzner", Vendor: "Hetzner", Contract: provider.FromSpec,
	Doc:      "https://docs.hetzner.cloud/reference/cloud#zone-rrset-actions",
	Example:  "provider: hetzner\nhostname: home.example.net\ntoken_file: /etc/hairpin/hetzner.token",
	Endpoint: "https://api.hetzner.cloud/v1",
	Message:  provider.CodeMessage, DefTTL: 60, MinTTL: 60}, // the API's smallest TTL is 60 seconds
	func(t provider.Token) provider.Provider { return &hetzner{Token: t} })

type hetzner struct {
	provider.Token
	zone provider.Once[string]
}

func (h *hetzner) findZone(ctx context.Context) (string, error) {
	return h.zone.Get(ctx, func(ctx context.Context) (string, error) {
		if h.Settings.Zone != "" {
			return h.Settings.Zone, nil
		}
		for _, z := range provider.ZoneCandidates(h.Hostname) {
			var out struct {
				Zones []struct {
					Name string `json:"name"`
				} `json:"zones"`
			}
			if _, err := h.API.Call(ctx, web.MethodGet, "/zones", url.Values{"name": {z}}, nil, &out); err != nil {
				return "", err
			}
			if len(out.Zones) > 0 {
				return out.Zones[0].Name, nil
			}
		}
		return "", provider.NoZone("Hetzner", h.Hostname)
	})
}

type value struct {
	Value string `json:"value"`
}

type action struct {
	Action struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Error  *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"action"`
}

// Update points the hostname's A (or AAAA) RRSet at addr alone.
func (h *hetzner) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := h.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ, name := provider.RecordType(addr), provider.Relative(h.Hostname, zone)
	rrset := "/zones/" + url.PathEscape(zone) + "/rrsets/" + url.PathEscape(name) + "/" + typ
	var cur struct {
		RRSet struct {
			Records []value `json:"records"`
		} `json:"rrset"`
	}
	_, err = h.API.Call(ctx, web.MethodGet, rrset, nil, nil, &cur)
	var act action
	switch {
	case provider.IsNotFound(err):
		in := struct {
			Name    string  `json:"name"`
			Type    string  `json:"type"`
			TTL     int     `json:"ttl,omitempty"`
			Records []value `json:"records"`
		}{name, typ, h.Settings.TTL, []value{{addr.String()}}}
		if _, err := h.API.Call(ctx, web.MethodPost, "/zones/"+url.PathEscape(zone)+"/rrsets", nil, in, &act); err != nil {
			return "", err
		}
		return "created", h.wait(ctx, act)
	case err != nil:
		return "", err
	case len(cur.RRSet.Records) == 1 && cur.RRSet.Records[0].Value == addr.String():
		return "unchanged", nil
	}
	in := struct {
		Records []value `json:"records"`
	}{[]value{{addr.String()}}}
	if _, err := h.API.Call(ctx, web.MethodPost, rrset+"/actions/set_records", nil, in, &act); err != nil {
		return "", err
	}
	return "updated", h.wait(ctx, act)
}

// ActionTimeout bounds the wait for an action: Hetzner applies record changes in seconds.
const ActionTimeout = 30 * time.Second

// wait polls the action until it succeeds or fails, at growing intervals.
func (h *hetzner) wait(ctx context.Context, act action) error {
	ctx, cancel := context.WithTimeout(ctx, ActionTimeout)
	defer cancel()
	delay := 250 * time.Millisecond
	for {
		switch act.Action.Status {
		case "success":
			return nil
		case "error":
			msg := "the change failed"
			if e := act.Action.Error; e != nil {
				msg = e.Code + ": " + e.Message
			}
			return provider.RetryLater(msg, provider.ServerTrouble, "Hetzner could not apply the change")
		}
		if act.Action.ID == 0 {
			return provider.RetryLater("no action", provider.ServerTrouble, "Hetzner's answer names no action to wait for")
		}
		if _, err := h.API.Call(ctx, web.MethodGet, fmt.Sprintf("/zones/actions/%d", act.Action.ID), nil, nil, &act); err != nil {
			return err
		}
		if act.Action.Status != "running" {
			continue
		}
		select {
		case <-ctx.Done():
			return provider.Transient("waiting for Hetzner to apply the change", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 4*time.Second)
	}
}
