package lab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/hairpin-nat/hairpin/internal/poll"
)

// ProbeTimeout bounds each probe; a hairpin failure shows up as a timeout or a reset.
const ProbeTimeout = 1500 * time.Millisecond

// StartCameras starts each camera's server (HTTP and UDP echo on port 80) and waits until all answer on the
// LAN.
func (t *Topology) StartCameras(ctx context.Context) error {
	for _, c := range t.Cameras {
		if _, _, err := t.Start(c.NS, "lab", "serve", "--name", c.Name, "--tcp", "80", "--udp", "80"); err != nil {
			return err
		}
	}
	for _, c := range t.Cameras {
		url := fmt.Sprintf("http://%s/", c.Addr)
		if err := poll.Until(ctx, 10*time.Second, func() bool { return HTTPGet(ctx, t.Laptop, url, 300*time.Millisecond).OK() }); err != nil {
			return fmt.Errorf("camera %s did not start: %w", c.Name, err)
		}
	}
	return nil
}

// Apply runs `hairpin apply` (with extra flags) in the router namespace.
func (t *Topology) Apply(ctx context.Context, configPath string, extra ...string) (string, error) {
	return Exec(ctx, t.Router, t.Bin, append([]string{"apply", "-c", configPath}, extra...)...)
}

// Check is one probe of one forward from one place.
type Check struct {
	Forward    string
	Target     string // public address:port
	Proto      string
	Port       int
	From       string // laptop, internet, router
	Want       netip.Addr
	Answer     Answer
	WantServer string
}

// Counted says how many forwards a list of checks covers and how many checks it holds ("4 forwards (15
// checks)"): one forward is checked from several places and over each protocol, so the two differ.
func Counted(cs []Check) string {
	forwards := map[string]bool{}
	for _, c := range cs {
		forwards[c.Forward] = true
	}
	f := "forwards"
	if len(forwards) == 1 {
		f = "forward"
	}
	return fmt.Sprintf("%d %s (%d checks)", len(forwards), f, len(cs))
}

// Pass reports whether the right server answered and saw the expected caller.
func (c Check) Pass() bool {
	return c.Answer.OK() && c.Answer.Server == c.WantServer && c.Answer.Caller == c.Want
}

// ProveAll probes every forward at the public address from the laptop (hairpin), the internet host and the
// router itself.
func (t *Topology) ProveAll(ctx context.Context) []Check {
	var checks []Check
	for _, c := range t.Cameras {
		for _, from := range t.vantagePoints() {
			checks = append(checks, t.probe(ctx, c, "tcp", from))
			if c.Name == "front-cam" {
				checks = append(checks, t.probe(ctx, c, "udp", from))
			}
		}
	}
	return checks
}

type vantage struct {
	name, ns string
	caller   netip.Addr // what the camera should see as the caller
}

func (t *Topology) vantagePoints() []vantage {
	return []vantage{
		// Hairpinned: masqueraded to the router's LAN address so the reply comes back through the router.
		{"laptop", t.Laptop, t.RouterLAN},
		// From the internet the camera sees the real caller.
		{"internet", t.Internet, t.InternetAddr},
		// The router's own connections leave from its WAN address.
		{"router", t.Router, t.RouterWAN},
	}
}

func (t *Topology) probe(ctx context.Context, c Camera, proto string, from vantage) Check {
	target := fmt.Sprintf("%s:%d", t.PublicAddr, c.Port)
	var a Answer
	if proto == "tcp" {
		a = HTTPGet(ctx, from.ns, "http://"+target+"/", ProbeTimeout)
	} else {
		a = UDPAsk(ctx, from.ns, target, ProbeTimeout)
	}
	return Check{Forward: c.Name, Target: target, Proto: proto, Port: c.Port, From: from.name, Want: from.caller, Answer: a, WantServer: c.Name}
}

// ProveFromLAN probes every TCP forward from the laptop only (the negative control).
func (t *Topology) ProveFromLAN(ctx context.Context) []Check {
	var checks []Check
	for _, c := range t.Cameras {
		checks = append(checks, t.probe(ctx, c, "tcp", t.vantagePoints()[0]))
	}
	return checks
}

// Failures counts the checks that did not pass.
func Failures(checks []Check) int {
	n := 0
	for _, c := range checks {
		if !c.Pass() {
			n++
		}
	}
	return n
}

// Answered counts the checks that got any answer: in a negative control, each one is a failure.
func Answered(checks []Check) int {
	n := 0
	for _, c := range checks {
		if c.Answer.OK() {
			n++
		}
	}
	return n
}

// PrintChecks writes a table of checks.
func PrintChecks(w io.Writer, checks []Check, expectFail bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FORWARD\tURL\tFROM\tANSWER\tRESULT")
	for _, c := range checks {
		verdict := "ok"
		switch {
		case expectFail && !c.Answer.OK():
			verdict = "fails, as expected"
		case expectFail:
			verdict = "UNEXPECTED ANSWER"
		case c.WantServer == "" && !c.Answer.OK():
			verdict = "not forwarded (no to6), as expected"
		case c.WantServer == "":
			verdict = "UNEXPECTED ANSWER (no to6)"
		case !c.Pass():
			verdict = fmt.Sprintf("FAILED (want %s seeing %s)", c.WantServer, c.Want)
		}
		fmt.Fprintf(tw, "%s\t%s://%s\t%s\t%s\t%s\n", c.Forward, c.Proto, c.Target, c.From, c.Answer, verdict)
	}
	_ = tw.Flush()
}
