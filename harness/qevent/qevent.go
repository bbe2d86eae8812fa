// Package qevent reads the guest's results channel: one JSON message per
// line (package protocol) becomes one typed protocol.Message on a Go
// channel. A line that does not decode, or one past the size bound, is
// delivered as a protocol error message, never dropped in silence, and the
// reason the channel ended is kept for the caller (end of stream, or why
// reading broke off).
//
// hugelgupf/vmtest keeps this in qemu/qevent; here too the qemu package
// stays ignorant of what the guest says.
package qevent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tsemlab/tsemlab/protocol"
)

// Stream is the guest's messages as they arrive.
type Stream struct {
	c   chan protocol.Message
	mu  sync.Mutex
	err error
}

// Read starts reading r (the results socket) until it ends; r is not
// closed. Messages arrive on C in order; C is closed when r ends.
func Read(r io.Reader) *Stream {
	s := &Stream{c: make(chan protocol.Message, 64)}
	go s.read(r)
	return s
}

// C delivers the messages; it is closed when the channel ends.
func (s *Stream) C() <-chan protocol.Message { return s.c }

// Err is why the channel ended early: nil at a clean end of stream, else
// the reading error (a line over protocol.MaxLine, a broken socket). Valid
// once C is closed.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Stream) read(r io.Reader) {
	defer close(s.c)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), protocol.MaxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		m, err := protocol.Decode(line)
		if err != nil {
			m = protocol.Message{Kind: protocol.KindError, Error: "garbled results channel: " + err.Error()}
		}
		s.c <- m
	}
	err := sc.Err()
	if errors.Is(err, bufio.ErrTooLong) {
		err = fmt.Errorf("results channel: a message is longer than %d MiB; the rest of the channel was lost", protocol.MaxLine>>20)
	} else if err != nil {
		err = fmt.Errorf("results channel: %w", err)
	}
	if err != nil {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		s.c <- protocol.Message{Kind: protocol.KindError, Error: err.Error()}
	}
}

// Replay returns a stream that delivers ms, then everything s delivers,
// and ends as s ends: for a reader that had to see the first messages (a
// restored guest's hello) before handing the stream on. s must not be
// read any more.
func (s *Stream) Replay(ms ...protocol.Message) *Stream {
	r := &Stream{c: make(chan protocol.Message, 64+len(ms))}
	for _, m := range ms {
		r.c <- m
	}
	go func() {
		defer close(r.c)
		for m := range s.c {
			r.c <- m
		}
		r.mu.Lock()
		r.err = s.Err()
		r.mu.Unlock()
	}()
	return r
}
