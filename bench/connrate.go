package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/netns"
)

// ConnRateOptions size the new-connection benchmark.
type ConnRateOptions struct {
	Forwards int
	Rounds   int
	Duration time.Duration // per destination and round, in turns of Slice
	Workers  int           // concurrent connectors
}

const sinkPort = 9000

// ConnRate measures new connections per second from the laptop through the first and the last of many
// forwards, for hairpin (one map lookup whatever the position) and for a rule list with one DNAT rule per
// forward (what iptables-style and RouterOS-style setups do: the last forward pays for every rule before
// it). Only a connection's first packet walks the NAT chains, so connect-and-reset cycles are what shows the
// cost of the lookup.
func ConnRate(ctx context.Context, e *Env, opt ConnRateOptions) ([]Row, error) {
	camNS, camAddr := e.Camera()
	sink, err := startSink(camNS, netip.AddrPortFrom(camAddr, sinkPort))
	if err != nil {
		return nil, err
	}
	e.onClose(sink.Close)

	last := opt.Forwards - 1
	fwds := manyForwards(opt.Forwards, e.LAN(), netip.AddrPortFrom(camAddr, sinkPort), 0, last)
	cfg, err := e.WriteFile("connrate.yaml", hairpinConfig(e.Topo.WANIf, e.Topo.LANIf, fwds))
	if err != nil {
		return nil, err
	}
	list, err := e.WriteFile("connrate-rulelist.nft", ruleList(e.Public(), fwds, e.LAN()))
	if err != nil {
		return nil, err
	}
	rulesets := []struct {
		name, note string
		load       func() error
	}{
		{"hairpin", "map lookup", func() error { _, err := e.Apply(ctx, cfg); return err }},
		{"rule list", fmt.Sprintf("%d dnat rules, context", opt.Forwards), func() error { _, err := e.loadFile(ctx, list); return err }},
	}
	positions := []struct {
		name string
		port int
	}{{"first", fwds[0].Port}, {"last", fwds[last].Port}}

	// samples[ruleset][position]
	samples := [2][2][]float64{}
	for round := range opt.Rounds {
		for _, r := range Order(round, []int{0, 1}) {
			if err := e.Clean(ctx); err != nil {
				return nil, err
			}
			if err := rulesets[r].load(); err != nil {
				return nil, fmt.Errorf("%s: %w", rulesets[r].name, err)
			}
			// RST-closed flows linger in conntrack as CLOSE for 10 s; keep the router's table small. Best effort.
			_ = sysctl(ctx, e.Topo.Router, "net.netfilter.nf_conntrack_tcp_timeout_close", "1")
			order := Order(round, []int{0, 1})
			var dests []netip.AddrPort
			for _, p := range order {
				dests = append(dests, netip.AddrPortFrom(e.Public(), uint16(positions[p].port)))
			}
			rates, fails, err := Connect(ctx, e.Topo.Laptop, dests, opt.Workers, opt.Duration)
			if err != nil {
				return nil, fmt.Errorf("connection rate %s: %w", rulesets[r].name, err)
			}
			for k, p := range order {
				samples[r][p] = append(samples[r][p], rates[k])
			}
			e.Log("connrate round %d %-9s first %6.0f last %6.0f conn/s (%d failed)", round+1, rulesets[r].name,
				samples[r][0][round], samples[r][1][round], fails)
		}
	}
	if err := e.Clean(ctx); err != nil {
		return nil, err
	}
	bench := fmt.Sprintf("new connections, %d forwards", opt.Forwards)
	var rows []Row
	for r, rs := range rulesets {
		first := Row{Bench: bench, Variant: rs.name + " first", Note: rs.note, Samples: samples[r][0], Unit: "conn/s"}
		lastRow := Row{Bench: bench, Variant: rs.name + " last", Samples: samples[r][1], Unit: "conn/s"}
		pair(&lastRow, first)
		if r == 0 {
			lastRow.Target = Target{">=", 0.95}
		}
		rows = append(rows, first, lastRow)
	}
	return rows, nil
}

// Slice is how long the connectors stay with one destination before moving to the next: destinations
// take turns many times a second, so a neighbour's burst of load hits them all alike.
const Slice = 100 * time.Millisecond

// Connect opens and resets TCP connections from namespace ns with workers connectors, after a short
// warm-up, giving each destination d in all, in turns of Slice. It returns each destination's completed
// connections per second and how many attempts failed. Each worker holds one OS thread inside the namespace
// and uses plain blocking syscalls, so the client costs little and the same for every destination.
// Connections close with SO_LINGER 0 (a reset): TIME_WAIT would otherwise fill the port space and swamp the
// figure.
func Connect(ctx context.Context, ns string, dests []netip.AddrPort, workers int, d time.Duration) ([]float64, int64, error) {
	sas := make([]*syscall.SockaddrInet4, len(dests))
	for i, dest := range dests {
		sas[i] = &syscall.SockaddrInet4{Port: int(dest.Port()), Addr: dest.Addr().As4()}
	}
	ok := make([]atomic.Int64, len(dests))
	var failed atomic.Int64
	start := time.Now().Add(200 * time.Millisecond)
	stop := start.Add(d * time.Duration(len(dests)))
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- netns.Do(ns, func() error {
				for ctx.Err() == nil {
					now := time.Now()
					if now.After(stop) {
						return nil
					}
					// The warm-up goes round the destinations too (negative turns), uncounted.
					turn := int(now.Sub(start).Truncate(Slice)/Slice) % len(dests)
					if turn < 0 {
						turn += len(dests)
					}
					err := connectReset(sas[turn])
					switch {
					case now.Before(start):
					case err != nil:
						failed.Add(1)
					default:
						ok[turn].Add(1)
					}
				}
				return ctx.Err()
			})
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return nil, failed.Load(), err
		}
	}
	rates := make([]float64, len(dests))
	for i := range dests {
		if ok[i].Load() == 0 {
			return nil, failed.Load(), fmt.Errorf("no connection to %s succeeded (%d failed in all)", dests[i], failed.Load())
		}
		rates[i] = float64(ok[i].Load()) / d.Seconds()
	}
	return rates, failed.Load(), nil
}

// connectReset opens one connection and closes it with a reset.
func connectReset(sa *syscall.SockaddrInet4) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0}); err != nil {
		return err
	}
	// A lost SYN would otherwise block for the kernel's full retry time.
	tv := syscall.NsecToTimeval(int64(time.Second))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv); err != nil {
		return err
	}
	return syscall.Connect(fd, sa)
}

// Sink accepts TCP connections and resets them at once.
type Sink struct {
	l  net.Listener
	wg sync.WaitGroup
}

// startSink listens on addr inside namespace ns.
func startSink(ns string, addr netip.AddrPort) (*Sink, error) {
	l, err := netns.Listen(ns, "tcp4", addr.String())
	if err != nil {
		return nil, err
	}
	s := &Sink{l: l}
	for range 2 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := l.Accept()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					continue
				}
				_ = c.(*net.TCPConn).SetLinger(0)
				_ = c.Close()
			}
		}()
	}
	return s, nil
}

// Close stops the sink.
func (s *Sink) Close() {
	_ = s.l.Close()
	s.wg.Wait()
}
