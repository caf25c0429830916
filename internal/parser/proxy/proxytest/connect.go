package proxytest

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

func (s *Server) httpConnect(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	reply := func(code int, extra string) {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", code, http.StatusText(code), extra)
	}
	if req.Method != http.MethodConnect {
		reply(http.StatusMethodNotAllowed, "")
		return nil, errors.New("not CONNECT")
	}
	if s.opts.User != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.opts.User+":"+s.opts.Password))
		if req.Header.Get("Proxy-Authorization") != want {
			s.authFails.Add(1)
			reply(http.StatusProxyAuthRequired, "Proxy-Authenticate: Basic realm=\"proxytest\"\r\n")
			return nil, errors.New("bad credentials")
		}
	}
	if FailMode(s.fail.Load()) == FailForbidden {
		reply(http.StatusForbidden, "")
		return nil, errors.New("forbidden")
	}
	up, err := s.dial(req.Host)
	if err != nil {
		reply(http.StatusBadGateway, "")
		return nil, err
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = up.Close()
		return nil, err
	}
	return up, nil
}
