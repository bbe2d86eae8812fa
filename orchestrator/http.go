package orchestrator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/protocol"
)

// runStep runs one step: a command goes to the phase's session; an HTTP
// step is a request the orchestrator sends itself.
func (o *orchestrator) runStep(ctx context.Context, s session, st protocol.Step) ran {
	if st.HTTP != nil {
		return httpGet(ctx, st.HTTP.URL, o.stepTimeout(st))
	}
	return s.run(ctx, st, o.stepTimeout(st))
}

// httpGet sends a GET over the guest's loopback and reports the response
// as a step's facts: the status, and the body as its stdout. A request that
// gets no response fails (exit status 1) with the reason on stderr.
//
// The request runs on a goroutine of its own: in a namespace leader the
// main goroutine is locked to the thread in the TSEM namespace, so the
// client's socket calls happen on threads outside it and are not the
// workload's events (the server's side of the connection is).
func httpGet(ctx context.Context, url string, timeout time.Duration) ran {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan ran, 1)
	go func() { done <- get(ctx, url) }()
	r := <-done
	r.dur = time.Since(start)
	return r
}

func get(ctx context.Context, rawURL string) ran {
	fail := func(err error) ran {
		return ran{exit: 1, stderr: err.Error() + "\n", timedOut: errors.Is(ctx.Err(), context.DeadlineExceeded), http: &protocol.HTTPResponse{Error: err.Error()}}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fail(err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return fail(fmt.Errorf("GET %s: only http://HOST[:PORT]/PATH URLs are supported", rawURL))
	}
	conn, err := dialLoopback(ctx, u)
	if err != nil {
		return fail(fmt.Errorf("GET %s: %w", rawURL, err))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	status, body, err := exchange(conn, u)
	r := ran{stdout: body.String(), trunc: body.Truncated(), http: &protocol.HTTPResponse{Status: status}}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		f := fail(fmt.Errorf("GET %s: %w", rawURL, err))
		f.stdout, f.trunc, f.http.Status = r.stdout, r.trunc, status
		return f
	}
	return r
}

// exchange sends an HTTP/1.0 GET for u on conn and reads the response's
// status and body (HTTP/1.0: the server sends no chunks and closes the
// connection after the body). A redirect is a response like any other:
// it is not followed anywhere, least of all out of the guest.
//
// It is written on package net rather than net/http, whose initialization
// (crypto/tls and the rest) cost every start of this binary 0.1 s under
// TCG: the orchestrator's, and each step helper's.
func exchange(conn net.Conn, u *url.URL) (int, *tail, error) {
	body := newTail(maxOutput)
	req := "GET " + u.RequestURI() + " HTTP/1.0\r\nHost: " + u.Host + "\r\nUser-Agent: tsemlab-guest\r\nAccept: */*\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, body, err
	}
	tp := textproto.NewReader(bufio.NewReader(conn))
	line, err := tp.ReadLine()
	if err != nil {
		return 0, body, fmt.Errorf("no response: %w", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/") || err != nil || status < 100 || status > 999 {
		return 0, body, fmt.Errorf("malformed status line %q", line)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return status, body, fmt.Errorf("malformed headers: %w", err)
	}
	if te := hdr.Get("Transfer-Encoding"); te != "" && !strings.EqualFold(te, "identity") {
		return status, body, fmt.Errorf("transfer-encoding %q in a response to HTTP/1.0", te)
	}
	var src io.Reader = tp.R
	if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		src = io.LimitReader(tp.R, n)
	}
	_, err = io.Copy(body, src)
	return status, body, err
}

// dialLoopback connects to u's host (port 80 unless it names one),
// reading "localhost" as 127.0.0.1: the guest has no resolver
// configuration, and needs none for its loopback.
func dialLoopback(ctx context.Context, u *url.URL) (net.Conn, error) {
	host, port := u.Hostname(), u.Port()
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "80"
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
}
