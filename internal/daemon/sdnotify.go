package daemon

import (
	"net"
	"os"
	"strconv"
	"time"
)

// NotifyReady tells systemd (Type=notify) that the daemon is up; without NOTIFY_SOCKET it does nothing.
func NotifyReady() error { return sdNotify("READY=1") }

// NotifyWatchdog tells systemd's watchdog (WatchdogSec=) that the event loop is turning.
func NotifyWatchdog() error { return sdNotify("WATCHDOG=1") }

// WatchdogEvery is how often to send WATCHDOG=1: half the interval systemd asked for in WATCHDOG_USEC, so one
// late wake does not get the daemon killed. 0 when systemd asked nothing of this process (no watchdog, or
// WATCHDOG_PID names another process).
func WatchdogEvery() time.Duration {
	usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// sdNotify sends one state line to systemd's notification socket (sd_notify(3)'s datagram protocol).
func sdNotify(state string) error {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	if sock[0] == '@' {
		sock = "\x00" + sock[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
