package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeMonitor answers QMP commands from a table and records what it ran.
type fakeMonitor struct {
	mu      sync.Mutex
	replies map[string]string
	// then holds replies given one at a time before replies' (the
	// states of a migration in progress).
	then map[string][]string
	// fail makes a command fail with this QMP error.
	fail   map[string]string
	ran    []string
	sent   []string
	events chan qmp.Event
}

func newFakeMonitor() *fakeMonitor {
	return &fakeMonitor{
		replies: map[string]string{
			"query-version": `{"return":{"qemu":{"major":7,"minor":2,"micro":19},"package":"Debian"}}`,
			"query-kvm":     `{"return":{"enabled":true,"present":true}}`,
			"quit":          `{"return":{}}`,
		},
		events: make(chan qmp.Event, 4),
	}
}

func (f *fakeMonitor) Connect() error    { return nil }
func (f *fakeMonitor) Disconnect() error { return nil }
func (f *fakeMonitor) Run(cmd []byte) ([]byte, error) {
	var c struct {
		Execute string `json:"execute"`
	}
	if err := json.Unmarshal(cmd, &c); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran = append(f.ran, c.Execute)
	f.sent = append(f.sent, string(cmd))
	if msg, ok := f.fail[c.Execute]; ok {
		return nil, errors.New(msg)
	}
	if next := f.then[c.Execute]; len(next) > 0 {
		f.then[c.Execute] = next[1:]
		return []byte(next[0]), nil
	}
	return []byte(f.replies[c.Execute]), nil
}
func (f *fakeMonitor) Events(context.Context) (<-chan qmp.Event, error) { return f.events, nil }

func (f *fakeMonitor) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.ran...)
}

func quietVM() *VM {
	return &VM{log: slog.New(slog.NewTextHandler(io.Discard, nil)), exited: make(chan struct{}), panicked: make(chan string, 1), stderr: &tailWriter{max: 100}}
}

func TestAttachQMP_TypedCommandsGiveVersionAndKVM(t *testing.T) {
	mon := newFakeMonitor()
	v := quietVM()
	v.attachQMP(context.Background(), mon)
	assert.Equal(t, "7.2.19", v.Version)
	assert.True(t, v.KVM)
	assert.Equal(t, []string{"query-version", "query-kvm"}, mon.commands())
}

func TestAttachQMP_KVMDisabled(t *testing.T) {
	mon := newFakeMonitor()
	mon.replies["query-kvm"] = `{"return":{"enabled":false,"present":true}}`
	v := quietVM()
	v.attachQMP(context.Background(), mon)
	assert.False(t, v.KVM)
}

func TestAttachQMP_GuestPanicEventIsDelivered(t *testing.T) {
	mon := newFakeMonitor()
	v := quietVM()
	v.attachQMP(context.Background(), mon)
	mon.events <- qmp.Event{Event: "RESET"}
	mon.events <- qmp.Event{Event: "GUEST_PANICKED", Data: map[string]any{"action": "pause"}}
	select {
	case why := <-v.Panicked():
		assert.Contains(t, why, "GUEST_PANICKED")
	case <-time.After(5 * time.Second):
		t.Fatal("no panic delivered")
	}
}

func TestStop_SendsQuitThroughQMP(t *testing.T) {
	mon := newFakeMonitor()
	v := quietVM()
	v.attachQMP(context.Background(), mon)
	// The fake QEMU "exits" once quit has been sent.
	go func() {
		require.Eventually(t, func() bool { return len(mon.commands()) == 3 }, 5*time.Second, time.Millisecond)
		close(v.exited)
	}()
	v.Stop(5 * time.Second)
	assert.Equal(t, "quit", mon.commands()[2])
	assert.Nil(t, v.mon, "the monitor is released")
}

func TestTailWriter_KeepsTheEndAndSaysWhatWasCut(t *testing.T) {
	w := &tailWriter{max: 5}
	_, _ = w.Write([]byte("abc"))
	_, _ = w.Write([]byte("defgh"))
	assert.Equal(t, "(3 earlier bytes left out)\ndefgh", w.String())
}
