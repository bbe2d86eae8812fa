package judge

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// httpChecks evaluates an HTTP step's expectations on the response the
// guest reported: the status, then each text the body must contain (the
// body is the step's stdout). A request that got no response fails every
// check with the reason.
func httpChecks(h *scenario.HTTP, st *result.Step, end protocol.StepEnd) []result.Check {
	if h == nil {
		return nil
	}
	notRun := st.Seen == protocol.OutcomeNotRun
	got, ok := "", true
	switch {
	case notRun:
		got, ok = "(step did not run)", false
	case end.HTTP == nil:
		got, ok = "(no HTTP result reported)", false
	case end.HTTP.Error != "":
		got, ok = "(no response: "+end.HTTP.Error+")", false
	}
	var out []result.Check
	if h.ExpectStatus != 0 {
		c := result.Check{What: "http status", Want: strconv.Itoa(h.ExpectStatus), Got: got}
		if ok {
			c.Got = statusText(end.HTTP.Status)
			c.OK = end.HTTP.Status == h.ExpectStatus
		}
		out = append(out, c)
	}
	for _, needle := range h.BodyContains {
		c := result.Check{What: fmt.Sprintf("http body contains %q", needle), Want: needle, Got: got}
		if ok {
			c.Got = textExcerpt(end.Stdout, needle, end.Truncated)
			c.OK = strings.Contains(end.Stdout, needle)
		}
		out = append(out, c)
	}
	return out
}

func statusText(code int) string {
	if code == 0 {
		return "(no status)"
	}
	return strconv.Itoa(code)
}
