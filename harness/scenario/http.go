package scenario

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tsemlab/tsemlab/protocol"
)

// HTTP makes a step a request instead of a command: the orchestrator itself
// sends a GET from inside the guest over its loopback (to a server a
// container or an earlier step started), so nothing leaves the VM.
type HTTP struct {
	// URL is an http:// URL on a loopback address.
	URL string
	// ExpectStatus, when non-zero, must equal the response's status.
	ExpectStatus int
	// BodyContains are texts the response body must contain.
	BodyContains []string
}

var httpFields = []string{"url", "expect_status", "body_contains"}

// httpStep decodes a step's http: block into st; m is the step's mapping,
// for the fields an HTTP step cannot have.
func (d *decoder) httpStep(st *Step, m map[string]pair, p pair) {
	for _, key := range []string{"run", "caps"} {
		if q, ok := m[key]; ok {
			d.errorf(q.key, "a step with http: is a request the orchestrator sends, so it has no %q; make it a step of its own", key)
		}
	}
	hm, ok := d.mapping(p.val, "\"http\"", "{url: http://127.0.0.1/, expect_status: 200}", httpFields)
	if !ok {
		return
	}
	h := &HTTP{}
	if q, ok := hm["url"]; ok {
		if v, ok := d.str("url", q.val); ok {
			if why := checkLoopbackURL(v); why != "" {
				d.errorf(q.val, "\"url\" %s", why)
			} else {
				h.URL = v
			}
		}
	} else {
		d.lacks(p.val, "url", "http has no \"url\"; add one like url: http://127.0.0.1/")
	}
	if q, ok := hm["expect_status"]; ok {
		if v, ok := d.integer("expect_status", q.val); ok {
			if v < 100 || v > 599 {
				d.errorf(q.val, "\"expect_status\" must be an HTTP status from 100 to 599, got %d", v)
			} else {
				h.ExpectStatus = v
			}
		}
	}
	if q, ok := hm["body_contains"]; ok {
		for _, it := range d.strItems("body_contains", q.val) {
			if it.val == "" {
				d.errorf(it.node, "\"body_contains\" has an empty string, which every body contains; remove it")
				continue
			}
			h.BodyContains = append(h.BodyContains, it.val)
		}
	}
	st.HTTP = h
	if h.URL != "" {
		st.Run = "GET " + h.URL
	}
}

// checkLoopbackURL says what is wrong with u as the target of an HTTP
// step, or "" when it is an http URL on a loopback address.
func checkLoopbackURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" {
		return fmt.Sprintf("must be a URL like http://127.0.0.1/, got %q", u)
	}
	if parsed.Scheme != "http" {
		return fmt.Sprintf("must use http:// (the guest has no certificates to check), got %q", u)
	}
	host := parsed.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost") {
		return ""
	}
	return fmt.Sprintf("must name a loopback address (127.0.0.1, [::1] or localhost): the guest has no network beyond its loopback, got host %q", host)
}

// checkModeSession reports a container scenario with a phase that is not
// a shell session: a container's steps are typed into its shell.
func (d *decoder) checkModeSession(s *Scenario, root *yaml.Node) {
	modeNode := child(resolve(root), "mode")
	if s.Mode != protocol.ModeContainer || modeNode == nil {
		return
	}
	for _, ph := range s.Phases {
		session := ph.Session
		if session == "" {
			session = s.Session
		}
		if session != protocol.SessionShell {
			d.errorf(modeNode, "mode: container types every step into the container's shell, but phase %q has session: %s; add session: shell", ph.Name, session)
			return
		}
	}
}
