package proxytest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
)

func (s *Server) socks4(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	if _, err := br.ReadString(0); err != nil { // user id
		return nil, err
	}
	reply := func(code byte) { _, _ = c.Write([]byte{0, code, 0, 0, 0, 0, 0, 0}) }
	if hdr[0] != 4 || hdr[1] != 1 {
		reply(0x5b)
		return nil, errors.New("bad socks4 request")
	}
	port := binary.BigEndian.Uint16(hdr[2:4])
	host := net.IP(hdr[4:8]).String()
	if hdr[4] == 0 && hdr[5] == 0 && hdr[6] == 0 && hdr[7] != 0 { // SOCKS4a
		name, err := br.ReadString(0)
		if err != nil {
			return nil, err
		}
		host = name[:len(name)-1]
	}
	if FailMode(s.fail.Load()) == FailForbidden {
		reply(0x5b)
		return nil, errors.New("forbidden")
	}
	up, err := s.dial(net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		reply(0x5b)
		return nil, err
	}
	reply(0x5a)
	return up, nil
}

func (s *Server) socks5(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	if err := s.socks5Auth(c, br); err != nil {
		return nil, err
	}
	reply := func(code byte) { _, _ = c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}) }
	target, code, err := readSOCKS5Target(br)
	if err != nil {
		if code != 0 {
			reply(code)
		}
		return nil, err
	}
	if FailMode(s.fail.Load()) == FailForbidden {
		reply(0x02)
		return nil, errors.New("forbidden")
	}
	up, err := s.dial(target)
	if err != nil {
		reply(0x05)
		return nil, err
	}
	reply(0x00)
	return up, nil
}

// socks5Auth negotiates the method (user/password when the server has a user, none otherwise) and
// checks the credentials.
func (s *Server) socks5Auth(c net.Conn, br *bufio.Reader) error {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return err
	}
	if hdr[0] != 5 {
		return errors.New("bad socks5 version")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return err
	}
	want := byte(0x00)
	if s.opts.User != "" {
		want = 0x02
	}
	if !slices.Contains(methods, want) {
		// Count before answering: a client that saw the refusal must find it counted.
		if want == 0x02 {
			s.authFails.Add(1)
		}
		_, _ = c.Write([]byte{5, 0xff})
		return errors.New("no acceptable method")
	}
	if _, err := c.Write([]byte{5, want}); err != nil {
		return err
	}
	if want != 0x02 {
		return nil
	}
	user, pass, err := readUserPass(br)
	if err != nil {
		return err
	}
	if user != s.opts.User || pass != s.opts.Password {
		s.authFails.Add(1)
		_, _ = c.Write([]byte{1, 1})
		return errors.New("bad credentials")
	}
	_, err = c.Write([]byte{1, 0})
	return err
}

// readSOCKS5Target reads a CONNECT request and returns its host:port. A request the server refuses
// comes with the reply code to send (0 when the connection broke).
func readSOCKS5Target(br *bufio.Reader) (string, byte, error) {
	var req [4]byte
	if _, err := io.ReadFull(br, req[:]); err != nil {
		return "", 0, err
	}
	if req[0] != 5 || req[1] != 1 {
		return "", 0x07, errors.New("unsupported socks5 command")
	}
	var host string
	switch req[3] {
	case 1, 4:
		ip := make([]byte, 4)
		if req[3] == 4 {
			ip = make([]byte, 16)
		}
		if _, err := io.ReadFull(br, ip); err != nil {
			return "", 0, err
		}
		host = net.IP(ip).String()
	case 3:
		name, err := readByteString(br)
		if err != nil {
			return "", 0, err
		}
		host = name
	default:
		return "", 0x08, errors.New("bad address type")
	}
	var pb [2]byte
	if _, err := io.ReadFull(br, pb[:]); err != nil {
		return "", 0, err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb[:])))), 0, nil
}

// readByteString reads a string preceded by its length in one byte.
func readByteString(br *bufio.Reader) (string, error) {
	n, err := br.ReadByte()
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(br, b)
	return string(b), err
}

func readUserPass(br *bufio.Reader) (string, string, error) {
	ver, err := br.ReadByte()
	if err != nil {
		return "", "", err
	}
	if ver != 1 {
		return "", "", errors.New("bad auth version")
	}
	user, err := readByteString(br)
	if err != nil {
		return "", "", err
	}
	pass, err := readByteString(br)
	return user, pass, err
}
