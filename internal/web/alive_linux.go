package web

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// socketAlive peeks at the socket under conn without blocking: a pending EOF or any unread byte (a TLS
// close_notify, an unasked answer) means the connection cannot carry another exchange. ok is false when conn
// is not a socket. It replaces a read with a short deadline, which cost every reused exchange a millisecond.
func socketAlive(conn net.Conn) (alive, ok bool) {
	if tc, isTLS := conn.(*tls.Conn); isTLS {
		conn = tc.NetConn()
	}
	sc, isSock := conn.(syscall.Conn)
	if !isSock {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var peekErr error
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, peekErr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for readiness: the answer is wanted now
	})
	if err != nil {
		return false, true
	}
	return errors.Is(peekErr, syscall.EAGAIN), true
}
