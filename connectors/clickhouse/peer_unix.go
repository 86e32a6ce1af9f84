//go:build unix

package clickhouse

import (
	"errors"
	"net"
	"syscall"
)

// peerOpen reports whether the peer of an idle connection has not closed
// it, nor sent anything: a look at the socket that does not wait (a read
// with a deadline already passed does not look at all).
func peerOpen(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		n    int
		rerr error
		buf  [1]byte
	)
	if err := raw.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // do not wait for the socket to be readable
	}); err != nil {
		return false
	}
	// EAGAIN: nothing to read, still open; no error: EOF (n == 0) or
	// bytes no request asked for (n > 0).
	_ = n
	return errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
}
