package console

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsemlab/tsemlab/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// feed writes data to a new console in chunks of the given sizes (cycled).
func feed(t *testing.T, data []byte, sizes []int) (*Console, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	c := NewConsole(&log, 200)
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		w, err := c.Write(data[:n])
		require.NoError(t, err)
		require.Equal(t, n, w)
		data = data[n:]
	}
	return c, &log
}

func TestConsole_CapturesPanicExcerpt(t *testing.T) {
	data := readTestdata(t, "taskalloc-refcount-panic.log")
	lines := strings.Split(string(data), "\n")
	first := -1
	for i, l := range lines {
		if strings.Contains(l, "refcount_t: underflow") {
			first = i
			break
		}
	}
	require.GreaterOrEqual(t, first, crashContext, "the sample has the refcount line after some context")

	c, log := feed(t, data, []int{len(data)})
	assert.Equal(t, data, log.Bytes(), "everything reaches the log unchanged")

	crash := c.Crash()
	require.NotEmpty(t, crash)
	excerpt := strings.Split(crash, "\n")
	assert.Equal(t, lines[first-crashContext], excerpt[0], "the excerpt starts %d lines before the first marker", crashContext)
	assert.Contains(t, excerpt[:crashContext+1], "[    8.692779] ------------[ cut here ]------------")
	assert.Equal(t, lines[first], excerpt[crashContext])
	assert.Contains(t, crash, "Kernel panic - not syncing: Fatal exception in interrupt")
	assert.Contains(t, crash, "WARNING: CPU: 0 PID: 183 at lib/refcount.c:28")
	assert.Equal(t, "[    8.693036] refcount_t: underflow; use-after-free.", c.CrashLine())
	testutil.Golden(t, filepath.Join("testdata", "taskalloc-refcount-panic.crash.golden"), []byte(crash+"\n"))
}

func TestConsole_SplitWritesGiveTheSameResult(t *testing.T) {
	data := readTestdata(t, "taskalloc-refcount-panic.log")
	want, _ := feed(t, data, []int{len(data)})
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]int, 64)
	for i := range random {
		random[i] = 1 + r.IntN(300)
	}
	tests := []struct {
		name  string
		sizes []int
	}{
		{"byte at a time", []int{1}},
		{"7 bytes", []int{7}},
		{"page", []int{4096}},
		{"random", random},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, log := feed(t, data, tt.sizes)
			assert.Equal(t, data, log.Bytes())
			assert.Equal(t, want.Crash(), got.Crash())
			assert.Equal(t, want.CrashLine(), got.CrashLine())
			assert.Equal(t, want.Tail(20), got.Tail(20))
		})
	}
}

func TestConsole_CleanBootHasNoCrash(t *testing.T) {
	data := readTestdata(t, "clean-boot.log")
	c, _ := feed(t, data, []int{13})
	assert.Empty(t, c.Crash())
	assert.Empty(t, c.CrashLine())
	assert.Equal(t, "tsemlab-guest: done\n[    3.141592] reboot: Power down", c.Tail(2))
}

func TestConsole_TailReturnsLastLines(t *testing.T) {
	tests := []struct {
		name  string
		keep  int
		input string
		n     int
		want  string
	}{
		{"fewer lines than asked", 10, "a\nb\n", 5, "a\nb"},
		{"last n", 10, "a\nb\nc\nd\n", 2, "c\nd"},
		{"partial last line included", 10, "a\nb\nc", 2, "b\nc"},
		{"carriage returns stripped", 10, "a\r\nb\r\n", 2, "a\nb"},
		{"keeps only keep lines", 2, "a\nb\nc\nd\n", 10, "c\nd"},
		{"nothing written", 10, "", 3, ""},
		{"zero lines", 10, "a\n", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConsole(nil, tt.keep)
			_, err := c.Write([]byte(tt.input))
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Tail(tt.n))
		})
	}
}

func TestConsole_MarkersStartAnExcerpt(t *testing.T) {
	tests := []struct {
		name, line string
	}{
		{"oops", "[    1.0] Oops: 0000 [#1] PREEMPT SMP NOPTI"},
		{"bug", "[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000"},
		{"gpf", "[    1.0] general protection fault, probably for non-canonical address"},
		{"warn", "[    1.0] WARNING: CPU: 0 PID: 1 at kernel/fork.c:1 x+0x1/0x2"},
		{"soft lockup", "[   30.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!"},
		{"hung task", "[  120.0] INFO: task bash:185 blocked for more than 120 seconds."},
		{"panic", "[    1.0] Kernel panic - not syncing: Attempted to kill init!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConsole(nil, 10)
			_, err := c.Write([]byte("before\n" + tt.line + "\nafter\n"))
			require.NoError(t, err)
			assert.Equal(t, "before\n"+tt.line+"\nafter", c.Crash())
			assert.Equal(t, strings.TrimSpace(tt.line), c.CrashLine())
		})
	}
}

func TestConsole_OnlyTheFirstCrashIsCaptured(t *testing.T) {
	c := NewConsole(nil, 10)
	in := "x\nBUG: first\n" + strings.Repeat("y\n", crashLength) + "Oops: second\n"
	_, err := c.Write([]byte(in))
	require.NoError(t, err)
	assert.Equal(t, "BUG: first", c.CrashLine())
	assert.NotContains(t, c.Crash(), "Oops: second")
	assert.Len(t, strings.Split(c.Crash(), "\n"), 2+crashLength)
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestConsole_WriteReportsLogError(t *testing.T) {
	c := NewConsole(failingWriter{os.ErrClosed}, 10)
	_, err := c.Write([]byte("line\n"))
	assert.ErrorIs(t, err, os.ErrClosed)
}

func FuzzConsole_SplitInvariance(f *testing.F) {
	f.Add([]byte("a\nBUG: x\nb\n"), uint8(3))
	f.Add([]byte("Kernel panic - not syncing\r\n"), uint8(1))
	f.Add([]byte("no newline at all"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		whole := NewConsole(nil, 50)
		_, _ = whole.Write(data)
		split := NewConsole(nil, 50)
		step := int(cut) + 1
		for i := 0; i < len(data); i += step {
			_, _ = split.Write(data[i:min(i+step, len(data))])
		}
		if whole.Crash() != split.Crash() || whole.CrashLine() != split.CrashLine() || whole.Tail(50) != split.Tail(50) {
			t.Fatalf("split writes of %q at %d differ", data, step)
		}
	})
}

func TestConsole_LogIsBoundedButCrashesAreStillSeen(t *testing.T) {
	var log bytes.Buffer
	c := NewConsole(&log, 10)
	line := bytes.Repeat([]byte("x"), 1<<20)
	line[len(line)-1] = '\n'
	for range MaxLog>>20 + 2 {
		_, err := c.Write(line)
		require.NoError(t, err)
	}
	_, err := c.Write([]byte("Kernel panic - not syncing: late\n"))
	require.NoError(t, err)
	assert.LessOrEqual(t, log.Len(), MaxLog+200)
	assert.Contains(t, log.String(), "console log cut at 64 MiB")
	assert.Contains(t, c.Crash(), "Kernel panic - not syncing: late")
}

func TestPanicLine_NamesTheMostTellingLine(t *testing.T) {
	text := "[ 1.0] refcount_t: underflow; use-after-free.\n[ 1.1] Oops: 0000 [#1] PREEMPT\n[ 1.2] Kernel panic - not syncing: Fatal exception in interrupt ]---"
	assert.Equal(t, "Kernel panic - not syncing: Fatal exception in interrupt", PanicLine(text))
	assert.Equal(t, "Oops: 0000 [#1] PREEMPT", PanicLine("[ 1.1] Oops: 0000 [#1] PREEMPT"))
	assert.Equal(t, "", PanicLine("all fine\n"))
}

func TestLastLine(t *testing.T) {
	assert.Equal(t, "b", LastLine("a\nb\n\n"))
	assert.Equal(t, "(nothing)", LastLine(" \n"))
}
