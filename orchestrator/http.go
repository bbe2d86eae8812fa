package orchestrator

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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

func get(ctx context.Context, url string) ran {
	fail := func(err error) ran {
		return ran{exit: 1, stderr: err.Error() + "\n", timedOut: errors.Is(ctx.Err(), context.DeadlineExceeded), http: &protocol.HTTPResponse{Error: err.Error()}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(err)
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: dialLoopback},
		// The answer is the response itself: a redirect is not followed
		// anywhere, least of all out of the guest.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	body := newTail(maxOutput)
	if _, err := io.Copy(body, resp.Body); err != nil {
		r := fail(err)
		r.stdout, r.http.Status = body.String(), resp.StatusCode
		return r
	}
	return ran{stdout: body.String(), trunc: body.Truncated(), http: &protocol.HTTPResponse{Status: resp.StatusCode}}
}

// dialLoopback dials addr, reading "localhost" as 127.0.0.1: the guest has
// no resolver configuration, and needs none for its loopback.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && strings.EqualFold(host, "localhost") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
