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
