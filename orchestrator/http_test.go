package orchestrator

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

func TestHTTPGet_ReportsTheResponseAsFacts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			_, _ = w.Write([]byte("<h1>tsemlab httpd: it works</h1>\n"))
		case "/away":
			http.Redirect(w, r, "http://deb.debian.org/", http.StatusFound)
		case "/slow":
			time.Sleep(time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	r := httpGet(context.Background(), srv.URL+"/", stepLimit)
	assert.Equal(t, 0, r.exit)
	assert.Equal(t, "<h1>tsemlab httpd: it works</h1>\n", r.stdout)
	assert.Equal(t, &protocol.HTTPResponse{Status: 200}, r.http)

	r = httpGet(context.Background(), "http://localhost:"+port+"/missing", stepLimit)
	assert.Equal(t, 0, r.exit, "any response is a response; the status is checked by the judge")
	assert.Equal(t, 404, r.http.Status)

	r = httpGet(context.Background(), srv.URL+"/away", stepLimit)
	assert.Equal(t, http.StatusFound, r.http.Status, "a redirect is not followed out of the guest")

	r = httpGet(context.Background(), srv.URL+"/slow", 100*time.Millisecond)
	assert.True(t, r.timedOut)
	assert.Equal(t, 1, r.exit)
	assert.Less(t, r.dur, time.Second)
}

func TestHTTPGet_NoServerIsAFailedStepWithTheReason(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	r := httpGet(context.Background(), "http://"+addr+"/", stepLimit)
	assert.Equal(t, 1, r.exit)
	assert.False(t, r.timedOut)
	require.NotNil(t, r.http)
	assert.Contains(t, r.http.Error, "connection refused")
	assert.Contains(t, r.stderr, "connection refused")
	assert.Zero(t, r.http.Status)
}

// rawServer answers one connection with reply, after reading the request
// head, and returns its address and the request it read.
func rawServer(t *testing.T, reply string) (string, <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		got <- string(buf[:n])
		_, _ = c.Write([]byte(reply))
	}()
	return l.Addr().String(), got
}

func TestHTTPGet_ReadsWhatAServerSends(t *testing.T) {
	tests := []struct {
		name, reply string
		status      int
		body, err   string
	}{
		{"body until the connection closes", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of it\n", 200, "all of it\n", ""},
		{"content-length bounds the body", "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabcdef", 201, "abc", ""},
		{"no reason phrase", "HTTP/1.0 204\r\n\r\n", 204, "", ""},
		{"chunks are refused", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "", "transfer-encoding \"chunked\" in a response to HTTP/1.0"},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n", 0, "", "malformed status line \"SSH-2.0-OpenSSH\""},
		{"nothing", "", 0, "", "no response: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, req := rawServer(t, tt.reply)
			r := httpGet(context.Background(), "http://"+addr+"/index.html?q=1", stepLimit)
			assert.Equal(t, "GET /index.html?q=1 HTTP/1.0\r\nHost: "+addr+"\r\nUser-Agent: tsemlab-guest\r\nAccept: */*\r\n\r\n", <-req)
			require.NotNil(t, r.http)
			assert.Equal(t, tt.status, r.http.Status)
			assert.Equal(t, tt.body, r.stdout)
			if tt.err == "" {
				assert.Equal(t, 0, r.exit)
				assert.Empty(t, r.http.Error)
				return
			}
			assert.Equal(t, 1, r.exit)
			assert.Equal(t, "GET http://"+addr+"/index.html?q=1: "+tt.err, r.http.Error)
		})
	}
}

func TestHTTPGet_OnlyPlainHTTP(t *testing.T) {
	r := httpGet(context.Background(), "https://127.0.0.1/", stepLimit)
	assert.Equal(t, 1, r.exit)
	assert.Contains(t, r.http.Error, "only http://HOST[:PORT]/PATH URLs are supported")
}
