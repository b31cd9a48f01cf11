package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/nft"
)

// ThroughputOptions size the throughput benchmark.
type ThroughputOptions struct {
	Rounds  int
	Seconds int // per iperf3 run
	// Skip names variants to leave out (not hairpin or floor), to spend the time on more rounds.
	Skip []string
}

const (
	iperfPort = 5201
	proxyPort = 5300
)

// Throughput runs iperf3 from the laptop to a camera five ways, alternating round by round: through
// hairpin's rules at the public address, through the minimal hand-written ruleset (the floor), through
// hairpin's rules without the per-forward counting chain (to see what counting costs), directly on the
// switch, and through a userland proxy on the router. Values are Gbit/s.
func Throughput(ctx context.Context, e *Env, opt ThroughputOptions) ([]Row, error) {
	camNS, camAddr := e.Camera()
	target := netip.AddrPortFrom(camAddr, iperfPort)
	if _, err := e.startIn(camNS, "iperf3", "-s", "-p", strconv.Itoa(iperfPort)); err != nil {
		return nil, fmt.Errorf("starting iperf3: %w", err)
	}
	if err := waitListening(ctx, camNS, iperfPort); err != nil {
		return nil, err
	}
	proxy, err := startProxy(e.Topo.Router, netip.AddrPortFrom(e.Topo.RouterLAN, proxyPort), target)
	if err != nil {
		return nil, err
	}
	e.onClose(proxy.Close)

	cfg, err := e.WriteFile("throughput.yaml", hairpinConfig(e.Topo.WANIf, e.Topo.LANIf, []fwd{{Port: iperfPort, To: camAddr, ToPort: iperfPort}}))
	if err != nil {
		return nil, err
	}
	floor, err := e.WriteFile("throughput-floor.nft", floorNAT(e.Public(), iperfPort, target, e.LAN()))
	if err != nil {
		return nil, err
	}
	public := netip.AddrPortFrom(e.Public(), iperfPort)
	variants := []struct {
		name, note string
		dest       netip.AddrPort
		setup      func() error
	}{
		{"hairpin", "hairpin apply", public, func() error { _, err := e.Apply(ctx, cfg); return err }},
		{"floor", "1 dnat + 1 masquerade rule", public, func() error { _, err := e.loadFile(ctx, floor); return err }},
		// What hairpin's per-forward counting costs: the same table without its forward chain.
		{"nocount", "hairpin without its counting forward chain, diagnosis", public, func() error {
			if _, err := e.Apply(ctx, cfg); err != nil {
				return err
			}
			return e.dropForwardChains(ctx)
		}},
		{"direct", "laptop to camera on the switch, context", target, func() error { return nil }},
		{"proxy", "userland io.Copy proxy on the router, context", netip.AddrPortFrom(e.Topo.RouterLAN, proxyPort), func() error { return nil }},
	}
	samples := make([][]float64, len(variants))
	var idx []int
	for i, v := range variants {
		if i < 2 || !slices.Contains(opt.Skip, v.name) {
			idx = append(idx, i)
		}
	}
	for round := range opt.Rounds {
		for _, i := range rotate(round, idx) {
			v := variants[i]
			if err := e.Clean(ctx); err != nil {
				return nil, err
			}
			if err := v.setup(); err != nil {
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			bps, err := iperf(ctx, e.Topo.Laptop, v.dest, opt.Seconds)
			if err != nil {
				return nil, fmt.Errorf("throughput %s: %w", v.name, err)
			}
			samples[i] = append(samples[i], bps/1e9)
			e.Log("throughput round %d %-20s %6.2f Gbit/s", round+1, v.name, bps/1e9)
		}
	}
	if err := e.Clean(ctx); err != nil {
		return nil, err
	}
	floorRow := Row{Bench: "throughput laptop->public->camera", Variant: variants[1].name, Note: variants[1].note, Samples: samples[1], Unit: "Gbit/s"}
	rows := []Row{floorRow}
	for _, i := range idx {
		if i == 1 {
			continue
		}
		r := Row{Bench: floorRow.Bench, Variant: variants[i].name, Note: variants[i].note, Samples: samples[i], Unit: "Gbit/s"}
		pair(&r, floorRow)
		if i == 0 {
			r.Target = Target{">=", 0.95}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// dropForwardChains deletes the chains of hairpin's table hooked at forward (its per-forward counting),
// found by hook rather than by name so the diagnosis survives a rename.
func (e *Env) dropForwardChains(ctx context.Context) error {
	_, out, err := Run(ctx, e.Topo.Router, "", "nft", "-j", "list", "table", "ip", nft.Table)
	if err != nil {
		return err
	}
	names, err := forwardChains([]byte(out))
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("table ip %s has no chain at the forward hook", nft.Table)
	}
	for _, name := range names {
		if _, _, err := Run(ctx, e.Topo.Router, "", "nft", "delete", "chain", "ip", nft.Table, name); err != nil {
			return err
		}
	}
	return nil
}

// forwardChains names the base chains hooked at forward in `nft -j list table` output.
func forwardChains(data []byte) ([]string, error) {
	var doc struct {
		Nftables []struct {
			Chain *struct {
				Name string `json:"name"`
				Hook string `json:"hook"`
			} `json:"chain"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing nft -j output: %w", err)
	}
	var names []string
	for _, o := range doc.Nftables {
		if o.Chain != nil && o.Chain.Hook == "forward" {
			names = append(names, o.Chain.Name)
		}
	}
	return names, nil
}

// iperf runs one iperf3 client in namespace ns and returns the receiver's bits per second.
func iperf(ctx context.Context, ns string, dest netip.AddrPort, seconds int) (float64, error) {
	_, out, err := Run(ctx, ns, "", "iperf3", "-c", dest.Addr().String(), "-p", strconv.Itoa(int(dest.Port())),
		"-t", strconv.Itoa(seconds), "-J", "--connect-timeout", "3000")
	if err != nil {
		if msg := iperfError(out); msg != "" {
			return 0, fmt.Errorf("iperf3: %s", msg)
		}
		return 0, err
	}
	return parseIperf([]byte(out))
}

// parseIperf reads the receiver's rate from `iperf3 -J` output.
func parseIperf(data []byte) (float64, error) {
	var doc struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("parsing iperf3 output: %w", err)
	}
	if doc.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", doc.Error)
	}
	if doc.End.SumReceived.BitsPerSecond <= 0 {
		return 0, fmt.Errorf("iperf3 reported no received data")
	}
	return doc.End.SumReceived.BitsPerSecond, nil
}

func iperfError(out string) string {
	var doc struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(out), &doc) == nil {
		return doc.Error
	}
	return ""
}

// Proxy is a userland TCP relay, what proxy-based "NAT reflection" does: every byte crosses into user space
// and back.
type Proxy struct {
	l  net.Listener
	wg sync.WaitGroup
	mu sync.Mutex
	cs map[net.Conn]struct{}
}

// startProxy listens on listen inside namespace ns and relays each connection to to, dialled from ns.
func startProxy(ns string, listen, to netip.AddrPort) (*Proxy, error) {
	l, err := netns.Listen(ns, "tcp4", listen.String())
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, cs: map[net.Conn]struct{}{}}
	dial := netns.Dialer(ns)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.relay(c, dial, to) }()
		}
	}()
	return p, nil
}

func (p *Proxy) track(c net.Conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cs == nil {
		return false
	}
	if on {
		p.cs[c] = struct{}{}
	} else {
		delete(p.cs, c)
	}
	return true
}

func (p *Proxy) relay(in net.Conn, dial func(context.Context, string, string) (net.Conn, error), to netip.AddrPort) {
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	out, err := dial(ctx, "tcp4", to.String())
	cancel()
	if err != nil {
		return
	}
	defer out.Close()
	if !p.track(in, true) || !p.track(out, true) {
		return
	}
	defer p.track(in, false)
	defer p.track(out, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// Close stops the proxy and every relayed connection.
func (p *Proxy) Close() {
	_ = p.l.Close()
	p.mu.Lock()
	for c := range p.cs {
		_ = c.Close()
	}
	p.cs = nil
	p.mu.Unlock()
	p.wg.Wait()
}
