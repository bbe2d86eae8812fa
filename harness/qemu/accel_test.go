package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBoot records its calls and answers with err.
type fakeBoot struct {
	err   error
	calls []Accel
	// during runs inside the boot, e.g. to cancel the caller's context.
	during func(ctx context.Context) error
}

func (f *fakeBoot) boot(ctx context.Context, a Accel) error {
	f.calls = append(f.calls, a)
	if f.during != nil {
		return f.during(ctx)
	}
	return f.err
}

// fakeKVM returns a path that opens O_RDWR like a usable /dev/kvm.
func fakeKVM(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kvm")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	return p
}

func missingKVM(t *testing.T) string {
	return filepath.Join(t.TempDir(), "no-such-kvm")
}

func TestProbe_Choose(t *testing.T) {
	tests := []struct {
		name      string
		want      string
		device    func(*testing.T) string
		bootErr   error
		accel     Accel
		reason    string // a substring of the reason
		bootCalls int
	}{
		{name: "auto without /dev/kvm falls back to TCG without booting", want: "auto", device: missingKVM,
			accel: TCG, reason: "KVM unavailable: open ", bootCalls: 0},
		{name: "empty means auto", want: "", device: missingKVM, accel: TCG, reason: "no such file or directory", bootCalls: 0},
		{name: "auto with a working KVM boot picks KVM", want: "auto", device: fakeKVM,
			accel: KVM, reason: "a test boot under KVM came up in", bootCalls: 1},
		{name: "auto with a failing KVM boot falls back to TCG", want: "auto", device: fakeKVM, bootErr: ErrNoHello,
			accel: TCG, reason: "a test boot under KVM failed (the guest did not report within the time limit); using TCG", bootCalls: 1},
		{name: "explicit tcg never probes", want: "tcg", device: fakeKVM, accel: TCG, reason: "--accel tcg", bootCalls: 0},
		{name: "explicit kvm with a device does not boot", want: "kvm", device: fakeKVM, accel: KVM, reason: "--accel kvm", bootCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBoot{err: tt.bootErr}
			cache := filepath.Join(t.TempDir(), "state", "accel.json")
			p := Probe{CacheFile: cache, DevKVM: tt.device(t), Fingerprint: "host-a", Boot: fb.boot}
			c, err := p.Choose(context.Background(), tt.want)
			require.NoError(t, err)
			assert.Equal(t, tt.accel, c.Accel)
			assert.Contains(t, c.Reason, tt.reason)
			assert.Len(t, fb.calls, tt.bootCalls)
			for _, a := range fb.calls {
				assert.Equal(t, KVM, a, "the probe boots under KVM")
			}
		})
	}
}

func TestProbe_RemembersTheAnswerPerFingerprint(t *testing.T) {
	fb := &fakeBoot{}
	cache := filepath.Join(t.TempDir(), "state", "accel.json")
	p := Probe{CacheFile: cache, DevKVM: fakeKVM(t), Fingerprint: "host-a kernel-1", Boot: fb.boot}

	first, err := p.Choose(context.Background(), "auto")
	require.NoError(t, err)
	require.Equal(t, KVM, first.Accel)
	require.Len(t, fb.calls, 1)
	assert.NotEmpty(t, first.When)

	var stored map[string]Choice
	data, err := os.ReadFile(cache)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &stored))
	assert.Equal(t, map[string]Choice{"host-a kernel-1": first}, stored)

	fb.err = ErrNoHello // would change the answer, if asked
	second, err := p.Choose(context.Background(), "auto")
	require.NoError(t, err)
	assert.Len(t, fb.calls, 1, "a remembered answer does not boot again")
	assert.Equal(t, KVM, second.Accel)
	assert.Equal(t, first.When, second.When)
	assert.Contains(t, second.Reason, "remembered from a probe at "+first.When)
	assert.Contains(t, second.Reason, "delete "+cache+" to probe again")

	p.Fingerprint = "host-a kernel-2"
	third, err := p.Choose(context.Background(), "auto")
	require.NoError(t, err)
	assert.Len(t, fb.calls, 2, "another fingerprint probes again")
	assert.Equal(t, TCG, third.Accel)

	data, err = os.ReadFile(cache)
	require.NoError(t, err)
	stored = nil
	require.NoError(t, json.Unmarshal(data, &stored))
	assert.Len(t, stored, 2, "both answers are kept")
}

func TestProbe_NoCacheFileProbesEveryTime(t *testing.T) {
	fb := &fakeBoot{}
	p := Probe{DevKVM: fakeKVM(t), Fingerprint: "x", Boot: fb.boot}
	for range 2 {
		_, err := p.Choose(context.Background(), "auto")
		require.NoError(t, err)
	}
	assert.Len(t, fb.calls, 2)
}

func TestProbe_BadCacheFileIsIgnored(t *testing.T) {
	fb := &fakeBoot{}
	cache := filepath.Join(t.TempDir(), "accel.json")
	require.NoError(t, os.WriteFile(cache, []byte("{not json"), 0o644))
	p := Probe{CacheFile: cache, DevKVM: fakeKVM(t), Fingerprint: "x", Boot: fb.boot}
	c, err := p.Choose(context.Background(), "auto")
	require.NoError(t, err)
	assert.Equal(t, KVM, c.Accel)
	assert.Len(t, fb.calls, 1)
}

func TestProbe_ChooseErrors(t *testing.T) {
	tests := []struct {
		name   string
		want   string
		is     error
		substr string
	}{
		{"explicit kvm without the device", "kvm", fs.ErrNotExist, "use --accel auto to fall back to TCG"},
		{"unknown accelerator", "xen", nil, `unknown accelerator "xen": use auto, kvm or tcg`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBoot{}
			p := Probe{DevKVM: missingKVM(t), Boot: fb.boot}
			_, err := p.Choose(context.Background(), tt.want)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.substr)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.Empty(t, fb.calls)
		})
	}
}

func TestProbe_CancelDuringBootReturnsContextError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fb := &fakeBoot{during: func(bctx context.Context) error {
		cancel()
		<-bctx.Done()
		return bctx.Err()
	}}
	cache := filepath.Join(t.TempDir(), "accel.json")
	p := Probe{CacheFile: cache, DevKVM: fakeKVM(t), Fingerprint: "x", Boot: fb.boot}
	_, err := p.Choose(ctx, "auto")
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, fb.calls, 1)
	_, statErr := os.Stat(cache)
	assert.True(t, errors.Is(statErr, fs.ErrNotExist), "an interrupted probe is not remembered")
}

func TestProbe_BootGetsTheProbeTimeout(t *testing.T) {
	fb := &fakeBoot{during: func(bctx context.Context) error {
		<-bctx.Done()
		return bctx.Err()
	}}
	p := Probe{DevKVM: fakeKVM(t), Fingerprint: "x", Boot: fb.boot, Timeout: 1}
	c, err := p.Choose(context.Background(), "auto")
	require.NoError(t, err)
	assert.Equal(t, TCG, c.Accel)
	assert.Contains(t, c.Reason, "context deadline exceeded")
}

// TestProbe_ConcurrentProbesKeepEveryAnswer probes from many goroutines
// at once, each for its own fingerprint, as parallel runs on hosts sharing
// a cache would: every answer must survive in the file.
func TestProbe_ConcurrentProbesKeepEveryAnswer(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "accel.json")
	dev := missingKVM(t)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := Probe{CacheFile: cache, DevKVM: dev, Fingerprint: fmt.Sprintf("host-%d", i), Boot: (&fakeBoot{}).boot}
			_, err := p.Choose(context.Background(), "auto")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	var stored map[string]Choice
	data, err := os.ReadFile(cache)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &stored))
	assert.Len(t, stored, n, "no answer lost to a concurrent rewrite")
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(cache), ".accel-*"))
	assert.Empty(t, left, "no temporary files left")
}

func TestProbe_WriteFailureIsReported(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	var logs bytes.Buffer
	p := Probe{CacheFile: filepath.Join(blocker, "accel.json"), DevKVM: missingKVM(t), Fingerprint: "x",
		Boot: (&fakeBoot{}).boot, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	c, err := p.Choose(context.Background(), "auto")
	require.NoError(t, err, "the answer still holds for this run")
	assert.Equal(t, TCG, c.Accel)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "the accelerator answer is not remembered")
	assert.Contains(t, logs.String(), "not a directory")
}
