package qemu

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snapshotMonitor is a fake QEMU that migrates: query-migrate is active
// twice, then completed; query-status is inmigrate once, then paused.
func snapshotMonitor() *fakeMonitor {
	mon := newFakeMonitor()
	for k, v := range map[string]string{"migrate-set-capabilities": `{"return":{}}`, "stop": `{"return":{}}`, "cont": `{"return":{}}`,
		"migrate": `{"return":{}}`, "migrate-incoming": `{"return":{}}`,
		"query-migrate": `{"return":{"status":"completed"}}`, "query-status": `{"return":{"status":"paused","running":false,"singlestep":false}}`} {
		mon.replies[k] = v
	}
	mon.then = map[string][]string{
		"query-migrate": {`{"return":{"status":"setup"}}`, `{"return":{"status":"active"}}`},
		"query-status":  {`{"return":{"status":"inmigrate","running":false,"singlestep":false}}`},
	}
	return mon
}

func attached(t *testing.T, mon *fakeMonitor) *VM {
	t.Helper()
	v := quietVM()
	v.attachQMP(context.Background(), mon)
	mon.mu.Lock()
	mon.ran, mon.sent = nil, nil
	mon.mu.Unlock()
	return v
}

func TestSave_StopsThenMigratesDeviceStateToTheFile(t *testing.T) {
	mon := snapshotMonitor()
	v := attached(t, mon)
	require.NoError(t, v.Save(context.Background(), "/cache/a b/state"))
	assert.Equal(t, []string{"migrate-set-capabilities", "stop", "migrate", "query-migrate", "query-migrate", "query-migrate"}, mon.commands())
	assert.JSONEq(t, `{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}}`, mon.sent[0])
	assert.JSONEq(t, `{"execute":"migrate","arguments":{"uri":"exec:cat > '/cache/a b/state'"}}`, mon.sent[2])
}

func TestLoad_WaitsForTheStateThenContinuesThePausedGuest(t *testing.T) {
	mon := snapshotMonitor()
	v := attached(t, mon)
	require.NoError(t, v.Load(context.Background(), "/cache/snap/state"))
	assert.Equal(t, []string{"migrate-set-capabilities", "migrate-incoming", "query-migrate", "query-migrate", "query-migrate", "query-status", "query-status", "cont"}, mon.commands())
	assert.JSONEq(t, `{"execute":"migrate-incoming","arguments":{"uri":"exec:cat '/cache/snap/state'"}}`, mon.sent[1])
}

func TestLoad_FailuresSayWhy(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*fakeMonitor)
		want   string
	}{
		{"migration failed", func(m *fakeMonitor) {
			m.then["query-migrate"] = nil
			m.replies["query-migrate"] = `{"return":{"status":"failed","error-desc":"Unable to read from socket: Connection reset by peer"}}`
		}, "load /s: migration failed: Unable to read from socket"},
		{"capability refused", func(m *fakeMonitor) {
			m.fail["migrate-set-capabilities"] = "Parameter 'capability' does not accept value 'x-ignore-shared'"
		},
			"load: migrate-set-capabilities x-ignore-shared: Parameter"},
		{"not waiting", func(m *fakeMonitor) { m.fail["migrate-incoming"] = "The incoming migration has not been started" }, "load: migrate-incoming: The incoming"},
		{"guest not paused", func(m *fakeMonitor) {
			m.replies["query-status"] = `{"return":{"status":"internal-error","running":false,"singlestep":false}}`
		}, "the guest is internal-error after loading, not paused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mon := snapshotMonitor()
			mon.fail = map[string]string{}
			tt.mutate(mon)
			v := attached(t, mon)
			err := v.Load(context.Background(), "/s")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, mon.commands(), "cont", "a guest that did not load is not run")
		})
	}
}

func TestLoad_EndsWhenQEMUExitsOrTheContextEnds(t *testing.T) {
	mon := snapshotMonitor()
	mon.then = nil
	mon.replies["query-migrate"] = `{"return":{"status":"active"}}`
	v := attached(t, mon)
	_, _ = v.stderr.Write([]byte("qemu-system-x86_64: load of migration failed: Invalid argument\n"))
	close(v.exited)
	assert.ErrorContains(t, v.Load(context.Background(), "/s"), "QEMU exited: qemu-system-x86_64: load of migration failed: Invalid argument")

	v = attached(t, mon)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, v.Load(ctx, "/s"), context.DeadlineExceeded)
}

func TestSave_NeedsQMP(t *testing.T) {
	assert.ErrorIs(t, quietVM().Save(context.Background(), "/s"), ErrNoQMP)
}

func TestShellQuote_KeepsPathsOneWord(t *testing.T) {
	assert.Equal(t, `'/a b/state'`, shellQuote("/a b/state"))
	assert.Equal(t, `'/it'\''s; rm -rf x'`, shellQuote("/it's; rm -rf x"))
}
