// Package leanserver is the cheapest HTTP/1.1 keep-alive server there is:
// every request gets a fixed 2-byte "ok", and only request heads are read.
// Benchmarks serve from it so that what they measure is the client.
package leanserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
)

// Response is what every request gets.
const Response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

// Serve answers requests on the connections ln accepts until ln is
// closed; then it closes the connections still open, waits for their
// goroutines and returns the error that ended Accept. Requests must carry
// no body.
func Serve(ln net.Listener) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open = map[net.Conn]struct{}{}
	)
	defer func() {
		mu.Lock()
		for c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		mu.Lock()
		open[conn] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			serveConn(conn)
			mu.Lock()
			delete(open, conn)
			mu.Unlock()
			_ = conn.Close()
		})
	}
}

// serveConn answers requests until the connection fails. Pipelined
// requests already in the buffer are answered with one write.
func serveConn(conn net.Conn) {
	br := bufio.NewReaderSize(conn, 4096)
	var out []byte
	for {
		if err := skipHead(br); err != nil {
			return
		}
		out = append(out, Response...)
		if br.Buffered() > 0 {
			continue
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
		out = out[:0]
	}
}

// skipHead reads up to and including the empty line that ends a head.
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

// ListenAndServe listens on addr, writes the address it got and a newline
// to announce (a parent process reads it there), and serves.
func ListenAndServe(addr string, announce io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(announce, ln.Addr().String()); err != nil {
		_ = ln.Close()
		return err
	}
	return Serve(ln)
}

// Start serves on a new listener on addr in the background. It returns
// the server's base URL ("http://host:port/") and stop, which closes the
// listener and returns once Serve has.
func Start(addr string) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = Serve(ln) }()
	return "http://" + ln.Addr().String() + "/", func() { _ = ln.Close(); <-done }, nil
}
