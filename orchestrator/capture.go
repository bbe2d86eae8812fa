package orchestrator

import "sync"

// maxOutput bounds what is kept of each of a step's output streams; the
// tail is kept, since errors come last.
const maxOutput = 64 << 10

// tail is an io.Writer that keeps the last max bytes written to it.
type tail struct {
	mu        sync.Mutex
	buf       []byte
	max       int
	truncated bool
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func (t *tail) Truncated() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.truncated
}
