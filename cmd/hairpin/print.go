package main

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hairpin-nat/hairpin/internal/allowdns"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

// printStatus prints the daemon's status, or the kernel view without a daemon (st.NoDaemon), which has no
// reachability, DNS or events to show.
func printStatus(w io.Writer, st *daemon.Status) {
	if !st.NoDaemon {
		fmt.Fprintf(w, "hairpin %s, backend %s, config %s, up since %s\n", st.Version, st.Backend, st.Config, st.Started.Format(time.RFC3339))
		if st.Verdict.Level != "" {
			fmt.Fprintf(w, "verdict: %s: %s\n", strings.ToUpper(st.Verdict.Level), st.Verdict.Reason)
		}
	}
	wanState := strings.Join(st.WANAddrs, ", ")
	if !st.WANExists {
		wanState = "interface missing"
	} else if wanState == "" {
		wanState = "no IPv4 address"
	}
	fmt.Fprintf(w, "WAN %s: %s\n", st.WANInterface, wanState)
	fmt.Fprintf(w, "LAN %s: %s\n", st.LANInterface, strings.Join(st.LANNets, ", "))
	pub := st.Public
	if pub == "" {
		pub = "unknown"
	}
	if st.PublicFrom != "" {
		pub += " (from " + st.PublicFrom + ")"
	}
	if st.PublicError != "" {
		pub += " (last error: " + st.PublicError + ")"
	}
	fmt.Fprintf(w, "public address: %s\ndouble NAT: %v (mode %s)\n", pub, st.DoubleNAT, st.DoubleNATMode)
	switch st.HARole {
	case "master":
		fmt.Fprintln(w, "HA: master (holds the LAN virtual address; publishes DNS, maps upstream, probes)")
	case "backup":
		fmt.Fprintln(w, "HA: backup (same rules; the master publishes DNS, maps upstream and probes)")
	}
	printReach(w, st)
	printUpstream(w, st.Upstream)
	printProbe(w, st.Probe)
	switch {
	case st.NoDaemon && !st.Installed:
		fmt.Fprintln(w, "rules: NOT installed (hairpin apply, or start the daemon)")
	case st.NoDaemon:
		fmt.Fprintf(w, "rules: installed, forwarding on %s\n", orNone(st.ForwardSet))
	case !st.Installed:
		fmt.Fprintf(w, "rules: NOT installed; last apply %s took %s\n", st.LastApply.Format(time.TimeOnly), orDash(st.LastApplyTook))
	default:
		fmt.Fprintf(w, "rules: installed, forwarding on %s; last apply %s took %s\n", orNone(st.ForwardSet), st.LastApply.Format(time.TimeOnly), st.LastApplyTook)
	}
	if st.ChangedUnder != "" {
		fmt.Fprintf(w, "rules CHANGED UNDER THE DAEMON by %s: it re-applies its config at its next event (systemctl reload hairpin does it now)\n", st.ChangedUnder)
	}
	if st.NoDaemon && !st.Installed {
		return // no table, no counters to show
	}
	// The IPv6 column appears once any forward has an IPv6 target; then a forward without one says so.
	any6 := false
	for _, f := range st.Forwards {
		any6 = any6 || f.IPv6 != "" && f.IPv6 != "off: "+plan.OffNoTo6 && f.IPv6 != "off: no rules installed"
	}
	if any6 || len(st.ForwardSet6) > 0 {
		fmt.Fprintf(w, "IPv6: WAN %s; forwarding on %s\n", orNone(st.WAN6Addrs), orNone(st.ForwardSet6))
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", st.LastError)
	}
	if st.CrashRecordError != "" {
		fmt.Fprintf(w, "crash record: NOT WRITTEN (%s); a crash during a WAN change would leave the old address forwarding until the next full apply\n", st.CrashRecordError)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "\nFORWARD\tPROTO\tPORT\tTO\tPACKETS\tBYTES\tFROM THE INTERNET\tDROPPED (ALLOW/LIMIT)"
	if any6 {
		head += "\tIPV6"
	}
	fmt.Fprintln(tw, head)
	for _, f := range st.Forwards {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s", f.Name, f.Protocol, f.Port, f.To, f.Packets, f.Bytes, who(f.Allow != nil, f.Allow, f.Limit),
			drops(f.Allow != nil, f.Limit != "", f.DroppedAllow, f.DroppedLimit))
		if any6 {
			fmt.Fprintf(tw, "\t%s", f.IPv6)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	printAllowedHosts(w, st.AllowedHosts)
	if len(st.DDNS) > 0 {
		fmt.Fprintln(w)
		printDDNS(w, st.DDNS, probeNote(st.Probe))
	}
	if st.NoDaemon {
		return
	}
	if len(st.Notify) > 0 {
		fmt.Fprintln(w, "\nnotifications:")
		for _, n := range st.Notify {
			fmt.Fprintf(w, "  %s (%s): %d sent, %d failed", n.Target, n.Format, n.Sent, n.Failed)
			if n.LastError != "" {
				fmt.Fprintf(w, "; last error: %s", n.LastError)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "\nrecent events:")
	for _, e := range st.Events {
		fmt.Fprintf(w, "  %s  %s\n", e.Time.Format("2006-01-02 15:04:05.000"), e.Message)
	}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// printDDNS shows each hostname: what was last sent and when, the provider's answer, and whether updates are
// held back (and why); `hairpin status` and `hairpin ddns update` both print it. note is added to every state
// (the last probe's verdict).
func printDDNS(w io.Writer, hosts []ddns.HostStatus, note string) {
	if len(hosts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tPROVIDER\tLAST SENT\tWHEN\tANSWER\tSTATE")
	for _, h := range hosts {
		when := "never"
		if !h.LastSent.IsZero() {
			when = h.LastSent.Format("2006-01-02 15:04:05")
		}
		state := "ok"
		switch {
		case h.Disabled != "":
			state = "DISABLED: " + h.Disabled
		case h.Withheld != "":
			state = "WITHHELD: " + h.Withheld
		case h.Held:
			state = "HELD: " + h.Reason
		case !h.NextRetry.IsZero():
			state = "retry at " + h.NextRetry.Format(time.TimeOnly)
			if why := cmp.Or(h.LastError, h.Reason); why != "" {
				state += " (" + why + ")"
			}
		case h.Warning != "":
			state = "WARNING: " + h.Warning
		}
		if note != "" {
			state += "; " + note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Hostname, h.Provider, orDash(h.LastAddress), when, orDash(h.Answer), state)
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// who says which internet sources reach a forward.
func who(allowOn bool, sets []string, limit string) string {
	s := "everyone"
	if allowOn {
		s = "allow " + strings.Join(sets, ",")
		if len(sets) == 0 {
			s = "nobody (LAN only)"
		}
	}
	if limit != "" {
		s += ", limit " + limit
	}
	return s
}

func drops(allowOn, limitOn bool, allow, limit uint64) string {
	a, l := "-", "-"
	if allowOn {
		a = fmt.Sprint(allow)
	}
	if limitOn {
		l = fmt.Sprint(limit)
	}
	return a + "/" + l
}

// printAllowedHosts shows the hostnames of allow lists with their current addresses.
func printAllowedHosts(w io.Writer, hosts []allowdns.HostStatus) {
	if len(hosts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nALLOWED HOST\tADDRESSES\tTTL\tNEXT LOOKUP\tSTATE")
	for _, h := range hosts {
		state := "ok"
		switch {
		case h.Error != "" && !h.KeepUntil.IsZero():
			state = fmt.Sprintf("NOT RESOLVING (%s); keeping the last addresses until %s", h.Error, h.KeepUntil.Format(time.DateTime))
		case h.Error != "":
			state = "NOT RESOLVING: " + h.Error
		case h.Dropped > 0:
			state = fmt.Sprintf("ok; %d more addresses in the answer are not allowed (at most %d per name)", h.Dropped, allowdns.MaxAddrs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Host, orDash(strings.Join(h.Addrs, ",")), orDash(h.TTL), h.Next.Format(time.TimeOnly), state)
	}
	_ = tw.Flush()
}

// printReach shows the classification of each family with its reason and next step.
func printReach(w io.Writer, st *daemon.Status) {
	for _, v := range st.Reachability {
		fmt.Fprintf(w, "reachability (%s): %s: %s\n", v.Family, v.String(), v.Reason)
		if v.Advice != "" {
			fmt.Fprintf(w, "  next step: %s\n", v.Advice)
		}
	}
}

// printUpstream shows the mappings on the box in front.
func printUpstream(w io.Writer, st *upstream.Status) {
	if st == nil {
		return
	}
	via := st.Protocol
	if via == "" {
		via = "none yet"
	}
	fmt.Fprintf(w, "upstream mapping (%s): via %s on %s to %s, external address %s; %d requests, %d renewals, %d remaps\n",
		st.Mode, via, orDash(st.Gateway), orDash(st.Local), orDash(st.External), st.Requests, st.Renewals, st.Remaps)
	if st.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", st.Error)
	}
	if st.Dropped > 0 {
		fmt.Fprintf(w, "  %d more ports not mapped (at most %d are)\n", st.Dropped, upstream.MaxMappings)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FORWARD\tPROTO\tPORT\tSTATE\tLEASE\tRENEW\tMESSAGE")
	for _, m := range st.Mappings {
		renew := "-"
		if !m.Renew.IsZero() {
			renew = m.Renew.Format(time.TimeOnly)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.Forward, m.Protocol, m.Port, m.State, orDash(m.Lease), renew, orDash(m.Message))
	}
	_ = tw.Flush()
}

// printProbe is the per-forward table of a probe.
func printProbe(w io.Writer, st *daemon.ProbeStatus) {
	if st == nil {
		return
	}
	when := ""
	if !st.Time.IsZero() {
		when = " at " + st.Time.Format(time.TimeOnly)
	}
	if st.Error != "" {
		fmt.Fprintf(w, "\nprobe%s failed: %s\n", when, st.Error)
		return
	}
	fmt.Fprintf(w, "\nprobe%s from the internet to %s:\n", when, st.Address)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FORWARD\tPORT\tRESULT\tTIME")
	for _, r := range st.Results {
		res := r.Result
		if res == probe.ResultOpen {
			res = "reachable"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%dms\n", r.Forward, r.Port, res, r.TookMS)
	}
	_ = tw.Flush()
}

// probeNote is what the DNS entries say when the last probe could not reach some forwards: the name resolves,
// but the internet cannot use it.
func probeNote(st *daemon.ProbeStatus) string {
	if st == nil || st.Error != "" || st.Unreachable() == 0 {
		return ""
	}
	return fmt.Sprintf("PROBE: %d of %d forwards unreachable from the internet", st.Unreachable(), len(st.Results))
}
