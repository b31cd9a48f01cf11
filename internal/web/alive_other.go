//go:build !linux

package web

import "net"

// socketAlive has no non-blocking peek here: the caller falls back to a read with a short deadline.
func socketAlive(net.Conn) (alive, ok bool) { return false, false }
