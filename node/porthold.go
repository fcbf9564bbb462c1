package node

import (
	"fmt"
	"io"
	"net"
	"syscall"
)

// holdPort binds a TCP socket to addr without listening on it, so that
// while chaos has stopped the client port no other socket takes its port
// (an outgoing connection's ephemeral port can, when the kernel chose the
// client port: port 0), and a client dialling it is refused as by a
// closed port. The client port opens again on it (SO_REUSEADDR on both
// lets a listener bind beside a socket that does not listen) before the
// hold is closed.
func holdPort(addr string) (io.Closer, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hold port %s: %w", addr, err)
	}
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ip4 := ta.IP.To4(); ip4 != nil {
		s := &syscall.SockaddrInet4{Port: ta.Port}
		copy(s.Addr[:], ip4)
		sa = s
	} else {
		family = syscall.AF_INET6
		s := &syscall.SockaddrInet6{Port: ta.Port}
		copy(s.Addr[:], ta.IP.To16())
		sa = s
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("hold port %s: %w", addr, err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("hold port %s: %w", addr, err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("hold port %s: %w", addr, err)
	}
	return heldPort(fd), nil
}

// heldPort is the socket holdPort bound.
type heldPort int

func (h heldPort) Close() error { return syscall.Close(int(h)) }
