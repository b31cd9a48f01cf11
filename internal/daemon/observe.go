package daemon

import (
	"context"
	"net"
	"os"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

// LinuxObserver follows the WAN and LAN interfaces through netlink (wan.Watch) and turns each snapshot into
// an Observation.
func LinuxObserver(opts wan.WatchOptions) Observer {
	return func(ctx context.Context, cfg *config.Config) (<-chan Observation, error) {
		names := []string{cfg.WAN.Interface}
		if cfg.LAN.Interface != "" {
			names = append(names, cfg.LAN.Interface)
		}
		snaps, err := wan.Watch(ctx, names, opts)
		if err != nil {
			return nil, err
		}
		out := make(chan Observation, 1)
		go func() {
			defer close(out)
			for snap := range snaps {
				w, l := snap[cfg.WAN.Interface], snap[cfg.LAN.Interface]
				obs := Observation{WANExists: w.Exists, WANAddrs: w.Addrs, LANNets: l.Nets}
				select {
				case out <- obs:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}
}

// NotifyReady tells systemd (Type=notify) that the daemon is up; without NOTIFY_SOCKET it does nothing.
func NotifyReady() error {
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
	_, err = c.Write([]byte("READY=1"))
	return err
}
