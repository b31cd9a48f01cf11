package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	gnft "github.com/google/nftables"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/quantile"
)

// The stages of one WAN change, in order. Each is a time on the wall clock of this machine, which the daemon
// (its debug log), the kernel (nftables notifications read here) and this benchmark share.
const (
	stAck       = iota // the kernel acknowledged the new WAN address to this benchmark
	stEventRead        // the daemon's watcher read the netlink event that led to the list showing it
	stListed           // the watcher's list of the interfaces, showing the new address, is done
	stSent             // the daemon starts the netlink batch that adds it to the WAN set
	stAdded            // the daemon has the kernel's acknowledgement of that batch
	stConnected        // the first TCP connection from the laptop to the new address reached the camera
	stCommitted        // outside the chain: the kernel's notification of the new set element, read here
	nStages
)

var stageNames = [nStages]string{"kernel ack of address", "netlink event read", "interfaces listed", "batch sent", "kernel ack of batch", "first connection", "notification read here"}

// BenchmarkReactionTime changes the router's WAN address 100 times (delete old, add new) and measures, for
// each change, the time from the kernel's acknowledgement of the new address to the first connection from the
// laptop to the new address that reaches the camera, and every stage in between. It reports the end-to-end
// p50, p90, p99 and max, and prints a table of the stages.
//
// The probe is built so that it does not add its own tail: from one thread that stays in the laptop's
// namespace it starts a non-blocking connect every 200 µs without waiting for the earlier ones, so an
// attempt that started just before the rule arrived (and is refused) never delays the one after it.
func BenchmarkReactionTime(b *testing.B) {
	topo := benchLab(b)
	_, out := benchDaemon(b, topo, "  - {name: front-cam, port: 8090, to: \"192.168.88.180:80\"}\n", "--log-level", "debug", "--log-format", "json")
	nl, h := netlinkIn(b, topo.Router)
	link := linkNamed(b, nl, topo.WANIf)
	commits, stopMonitor := monitorSetElements(b, h)
	defer stopMonitor()
	probe := newProber(b, topo.Laptop)
	defer probe.close()

	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")}
	// 100 changes per iteration: `make bench` runs one (-benchtime 1x); -benchtime 10x gives a p99 that is not
	// just the second-largest of 100 samples.
	changes := 100 * b.N
	var runs [][nStages]time.Time
	logs := &daemonLog{}
	b.ResetTimer()
	for i := 0; i < changes; i++ {
		old, next := addrs[i%2], addrs[(i+1)%2]
		commits.reset()
		logs.read(out.String())
		logs.lines = logs.lines[:0]
		if err := nl.AddrDel(link, nlAddr(old)); err != nil {
			b.Fatal(err)
		}
		if err := nl.AddrAdd(link, nlAddr(next)); err != nil {
			b.Fatal(err)
		}
		var st [nStages]time.Time
		st[stAck] = time.Now()
		connected, err := probe.firstConnect(netip.AddrPortFrom(next, 8090), 5*time.Second)
		if err != nil {
			b.Fatalf("change %d: %v", i, err)
		}
		st[stConnected] = connected
		// The daemon retires the old address after enabling the new one; let it finish (and check it did)
		// before the next change, as real address changes are minutes apart.
		if err := waitRetired(topo.Laptop, net.JoinHostPort(old.String(), "8090"), 5*time.Second); err != nil {
			b.Fatalf("change %d: %v", i, err)
		}
		st[stCommitted] = commits.first(next)
		logs.read(out.String())
		st[stEventRead], st[stListed], st[stSent], st[stAdded] = logs.stages(next)
		runs = append(runs, st)
	}
	b.StopTimer()
	e2e := stageDurations(runs, stAck, stConnected)
	b.ReportMetric(quantileMS(e2e, 0.5), "p50-ms")
	b.ReportMetric(quantileMS(e2e, 0.9), "p90-ms")
	b.ReportMetric(quantileMS(e2e, 0.99), "p99-ms")
	b.ReportMetric(quantileMS(e2e, 1), "max-ms")
	var t strings.Builder
	fmt.Fprintf(&t, "reaction time over %d WAN address changes (ms):\n", changes)
	fmt.Fprintf(&t, "  %-52s %7s %7s %7s %7s\n", "stage", "p50", "p90", "p99", "max")
	row := func(a, b int) {
		d := stageDurations(runs, a, b)
		fmt.Fprintf(&t, "  %-52s %7.2f %7.2f %7.2f %7.2f\n", stageNames[a]+" -> "+stageNames[b], quantileMS(d, 0.5), quantileMS(d, 0.9), quantileMS(d, 0.99), quantileMS(d, 1))
	}
	for s := stAck + 1; s <= stConnected; s++ {
		row(s-1, s)
	}
	// The kernel's own notification, read from outside the daemon, checks the daemon's account of the batch.
	row(stSent, stCommitted)
	fmt.Fprintf(&t, "  %-52s %7.2f %7.2f %7.2f %7.2f", "end to end: "+stageNames[stAck]+" -> "+stageNames[stConnected], quantileMS(e2e, 0.5), quantileMS(e2e, 0.9), quantileMS(e2e, 0.99), quantileMS(e2e, 1))
	b.Log(t.String())
}

// stageDurations returns, sorted, the time from stage a to stage b of every run that recorded both.
func stageDurations(runs [][nStages]time.Time, a, b int) []time.Duration {
	var out []time.Duration
	for _, r := range runs {
		if !r[a].IsZero() && !r[b].IsZero() {
			out = append(out, r[b].Sub(r[a]))
		}
	}
	slices.Sort(out)
	return out
}

// quantileMS is the q-quantile of durations in milliseconds (nearest rank); NaN when there are none.
func quantileMS(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	return float64(quantile.Of(d, q).Microseconds()) / 1000
}

// daemonLog reads the daemon's JSON debug log incrementally and keeps the timing lines.
type daemonLog struct {
	offset int
	lines  []logLine
}

type logLine struct {
	Msg       string    `json:"msg"`
	State     string    `json:"state"`
	Addresses string    `json:"addresses"`
	EventRead time.Time `json:"event_read"`
	Listed    time.Time `json:"listed"`
	Sent      time.Time `json:"sent"`
	Added     time.Time `json:"added"`
}

func (l *daemonLog) read(all string) {
	sc := bufio.NewScanner(strings.NewReader(all[l.offset:]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line logLine
		if json.Unmarshal(sc.Bytes(), &line) == nil && (line.Msg == "interfaces changed" || line.Msg == "WAN set timing") {
			l.lines = append(l.lines, line)
		}
	}
	l.offset = len(all)
}

// stages returns the watcher's and the daemon's times for the first lines since the last call that show addr,
// and forgets the lines read so far.
func (l *daemonLog) stages(addr netip.Addr) (eventRead, listed, sent, added time.Time) {
	a := addr.String()
	for _, line := range l.lines {
		switch {
		case line.Msg == "interfaces changed" && listed.IsZero() && strings.Contains(line.State, a):
			eventRead, listed = line.EventRead, line.Listed
		case line.Msg == "WAN set timing" && sent.IsZero() && strings.Contains(line.Addresses, a):
			sent, added = line.Sent, line.Added
		}
	}
	l.lines = l.lines[:0]
	return eventRead, listed, sent, added
}

// setCommits records when the kernel announced each new set element holding an IPv4 address.
type setCommits struct {
	ch  chan elementSeen
	log []elementSeen
}

type elementSeen struct {
	addr netip.Addr
	at   time.Time
}

// monitorSetElements subscribes to the nftables notifications of the namespace behind h: the kernel sends one
// for every set element a transaction adds, as it commits.
func monitorSetElements(b *testing.B, h vnetns.NsHandle) (*setCommits, func()) {
	conn, err := gnft.New(gnft.WithNetNSFd(int(h)))
	if err != nil {
		b.Fatal(err)
	}
	mon := gnft.NewMonitor(gnft.WithMonitorAction(gnft.MonitorActionNew), gnft.WithMonitorObject(gnft.MonitorObjectElements), gnft.WithMonitorEventBuffer(4096))
	events, err := conn.AddMonitor(mon)
	if err != nil {
		b.Fatal(err)
	}
	c := &setCommits{ch: make(chan elementSeen, 4096)}
	go func() {
		defer close(c.ch)
		for ev := range events {
			at := time.Now()
			elems, ok := ev.Data.([]gnft.SetElement)
			if !ok {
				continue
			}
			for _, e := range elems {
				if a, ok := netip.AddrFromSlice(e.Key); ok && a.Is4() {
					c.ch <- elementSeen{a, at}
				}
			}
		}
	}()
	return c, func() { _ = mon.Close(); _ = conn.CloseLasting() }
}

// reset forgets every announcement so far.
func (c *setCommits) reset() {
	c.drain()
	c.log = c.log[:0]
}

func (c *setCommits) drain() {
	for {
		select {
		case e := <-c.ch:
			c.log = append(c.log, e)
		default:
			return
		}
	}
}

// first returns when addr was first announced since the last reset (zero if it was not).
func (c *setCommits) first(addr netip.Addr) time.Time {
	c.drain()
	for _, e := range c.log {
		if e.addr == addr {
			return e.at
		}
	}
	return time.Time{}
}

// prober opens TCP connections from one OS thread that stays in a namespace, so no attempt pays for
// switching namespaces, and attempts overlap instead of queueing behind each other.
type prober struct {
	req  chan probeReq
	done chan struct{}
}

type probeReq struct {
	target netip.AddrPort
	within time.Duration
	reply  chan probeResult
}

type probeResult struct {
	at  time.Time
	err error
}

const (
	probeEvery       = 200 * time.Microsecond // a new attempt this often
	probeTimeout     = 100 * time.Millisecond // an attempt unanswered this long is given up
	probeOutstanding = 256
)

func newProber(b *testing.B, ns string) *prober {
	p := &prober{req: make(chan probeReq), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(p.done)
		// Never unlocked: the thread leaves the process with this goroutine instead of returning to the pool
		// in another namespace.
		runtime.LockOSThread()
		h, err := vnetns.GetFromName(ns)
		if err == nil {
			err = vnetns.Set(h)
			h.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for r := range p.req {
			at, err := connectFirst(r.target, r.within)
			r.reply <- probeResult{at, err}
		}
	}()
	if err := <-ready; err != nil {
		b.Fatalf("prober in %s: %v", ns, err)
	}
	return p
}

func (p *prober) firstConnect(target netip.AddrPort, within time.Duration) (time.Time, error) {
	reply := make(chan probeResult, 1)
	p.req <- probeReq{target, within, reply}
	r := <-reply
	return r.at, r.err
}

func (p *prober) close() { close(p.req); <-p.done }

type attempt struct {
	fd    int
	start time.Time
}

// connectFirst starts a non-blocking connect to target every probeEvery and returns when the first one is
// established. Every socket is closed with a reset (linger 0), so no TIME_WAIT piles up.
func connectFirst(target netip.AddrPort, within time.Duration) (time.Time, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if target.Addr().Is6() {
		sa, family = &unix.SockaddrInet6{Port: int(target.Port()), Addr: target.Addr().As16()}, unix.AF_INET6
	} else {
		sa = &unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()}
	}
	var open []attempt
	defer func() {
		for _, a := range open {
			closeReset(a.fd)
		}
	}()
	deadline := time.Now().Add(within)
	next := time.Now()
	for {
		now := time.Now()
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("%s not forwarded within %s", target, within)
		}
		if !now.Before(next) && len(open) < probeOutstanding {
			fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return time.Time{}, err
			}
			switch err := unix.Connect(fd, sa); {
			case err == nil:
				closeReset(fd)
				return time.Now(), nil
			case errors.Is(err, unix.EINPROGRESS):
				open = append(open, attempt{fd, now})
			default:
				closeReset(fd) // refused at once: try again at the next tick
			}
			next = now.Add(probeEvery)
		}
		fds := make([]unix.PollFd, len(open))
		for i, a := range open {
			fds[i] = unix.PollFd{Fd: int32(a.fd), Events: unix.POLLOUT}
		}
		ts := unix.NsecToTimespec(max(time.Until(next), 0).Nanoseconds())
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return time.Time{}, err
		}
		now = time.Now()
		keep := open[:0]
		for i, a := range open {
			switch {
			case fds[i].Revents == 0 && now.Sub(a.start) < probeTimeout:
				keep = append(keep, a)
				continue
			case fds[i].Revents == 0:
				closeReset(a.fd)
				continue
			}
			soErr, err := unix.GetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && soErr == 0 {
				open = append(keep, open[i+1:]...)
				closeReset(a.fd)
				return now, nil
			}
			closeReset(a.fd)
		}
		open = keep
	}
}

func closeReset(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	_ = unix.Close(fd)
}
