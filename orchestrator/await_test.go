package orchestrator

import (
	"bufio"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

// hostLine is a sender the host can send one line to, like the results port.
type hostLine struct {
	recorder
	line string
}

func (h *hostLine) receive() ([]byte, error) {
	return readLine(bufio.NewReader(strings.NewReader(h.line)), protocol.MaxLine)
}

func planLine(t *testing.T, p protocol.Plan) string {
	t.Helper()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	return string(b) + "\n"
}

func TestAwait_TakesThePlanAndSaysHelloAgainKeepingBootTimes(t *testing.T) {
	plan := protocol.Plan{Version: protocol.Version, Scenario: "caps-chown", Phases: []protocol.Phase{{Name: "p"}}}
	host := &hostLine{line: planLine(t, plan)}
	o := &orchestrator{out: host, plan: protocol.AwaitPlan(nil)}
	first := protocol.Hello{Modules: []string{"virtio_blk"}, InitStart: protocol.Duration(time.Second), OrchestratorStart: protocol.Duration(2 * time.Second), ModulesTook: protocol.Duration(time.Millisecond)}

	h, err := o.await(first)
	require.NoError(t, err)
	assert.Equal(t, plan, o.plan)
	require.Len(t, host.msgs, 1)
	assert.Equal(t, protocol.KindHello, host.msgs[0].Kind)
	assert.Equal(t, h, *host.msgs[0].Hello)
	assert.Equal(t, protocol.Version, h.ProtocolVersion)
	assert.Equal(t, first.Modules, h.Modules)
	assert.Equal(t, first.InitStart, h.InitStart)
	assert.Equal(t, first.OrchestratorStart, h.OrchestratorStart)
	assert.Equal(t, first.ModulesTook, h.ModulesTook)
}

func TestAwait_SetsTheClockToTheHosts(t *testing.T) {
	var set []time.Time
	defer func(f func(time.Time) error) { setClock = f }(setClock)
	setClock = func(t time.Time) error { set = append(set, t); return nil }
	now := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	host := &hostLine{line: planLine(t, protocol.Plan{Version: protocol.Version, Clock: &now})}
	o := &orchestrator{out: host, plan: protocol.AwaitPlan(nil)}
	_, err := o.await(protocol.Hello{})
	require.NoError(t, err)
	require.Len(t, set, 1)
	assert.True(t, now.Equal(set[0]))

	setClock = func(time.Time) error { return errors.New("operation not permitted") }
	host = &hostLine{line: planLine(t, protocol.Plan{Version: protocol.Version, Clock: &now})}
	o = &orchestrator{out: host, plan: protocol.AwaitPlan(nil)}
	_, err = o.await(protocol.Hello{})
	require.NoError(t, err, "a clock that cannot be set is no reason to stop")
	require.Len(t, host.msgs, 2)
	assert.Contains(t, host.msgs[0].Log, "the clock stays the snapshot's: operation not permitted")
}

func TestAwait_RefusesWhatCannotBeRun(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"other version", `{"version":1,"scenario":"x"}` + "\n", "plan version 1"},
		{"garbage", "{\n", "decode plan from the results port"},
		{"another wait", planLine(t, protocol.AwaitPlan(nil)), "another plan to wait with"},
		{"no newline", `{"version":2}`, "ended without a newline"},
		{"nothing", "", "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := &hostLine{line: tt.line}
			o := &orchestrator{out: host, plan: protocol.AwaitPlan(nil)}
			_, err := o.await(protocol.Hello{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, host.msgs, "no second hello")
		})
	}
}

func TestAwait_NeedsAChannelTheHostCanSendOn(t *testing.T) {
	o := &orchestrator{out: &recorder{}, plan: protocol.AwaitPlan(nil)}
	_, err := o.await(protocol.Hello{})
	assert.ErrorContains(t, err, "cannot send on this channel")
}

func TestReadLine_LongLinesAcrossBuffersAndTheBound(t *testing.T) {
	long := strings.Repeat("x", 100) + "\n"
	got, err := readLine(bufio.NewReaderSize(strings.NewReader(long), 16), 1000)
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(long), string(got))
	_, err = readLine(bufio.NewReaderSize(strings.NewReader(long), 16), 50)
	assert.ErrorContains(t, err, "longer than")
}

func TestRecordTime_FindsTheKernelsRecordOfStartingInit(t *testing.T) {
	at, ok := recordTime("6,312,1530211,-;Run /init as init process\n", "Run /init as init process")
	require.True(t, ok)
	assert.Equal(t, 1530211*time.Microsecond, at)
	for _, rec := range []string{
		"6,311,1529000,-;Freeing unused kernel image (initmem) memory: 2884K\n",
		"6,312,x,-;Run /init as init process\n",
		"6,312;Run /init as init process\n",
		"no semicolon",
	} {
		_, ok := recordTime(rec, "Run /init as init process")
		assert.False(t, ok, rec)
	}
}

func TestInitRun_NoKernelLogIsZero(t *testing.T) {
	assert.Zero(t, initRun(filepath.Join(t.TempDir(), "none")))
}
