package qevent

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

func collect(s *Stream) []protocol.Message {
	var out []protocol.Message
	for m := range s.C() {
		out = append(out, m)
	}
	return out
}

func TestRead_DecodesLinesInOrder(t *testing.T) {
	in := `{"kind":"hello","hello":{"protocol_version":2}}` + "\n\n" + `{"kind":"done","done":{"tainted":0}}` + "\n"
	s := Read(strings.NewReader(in))
	msgs := collect(s)
	require.Len(t, msgs, 2)
	assert.Equal(t, protocol.KindHello, msgs[0].Kind)
	assert.Equal(t, protocol.KindDone, msgs[1].Kind)
	assert.NoError(t, s.Err())
}

func TestRead_GarbledLineIsAnErrorMessage(t *testing.T) {
	s := Read(strings.NewReader("{not json\n" + `{"kind":"done","done":{}}` + "\n"))
	msgs := collect(s)
	require.Len(t, msgs, 2)
	assert.Equal(t, protocol.KindError, msgs[0].Kind)
	assert.Contains(t, msgs[0].Error, "garbled results channel")
	assert.Equal(t, protocol.KindDone, msgs[1].Kind, "one bad line does not end the channel")
}

func TestRead_OverlongLineEndsTheChannelWithAnError(t *testing.T) {
	long := `{"kind":"log","log":"` + strings.Repeat("x", protocol.MaxLine+10) + `"}` + "\n"
	s := Read(io.MultiReader(strings.NewReader(long), strings.NewReader(`{"kind":"done","done":{}}`+"\n")))
	msgs := collect(s)
	require.Len(t, msgs, 1, "the done after the overlong line is lost, and that is said")
	assert.Equal(t, protocol.KindError, msgs[0].Kind)
	assert.Contains(t, msgs[0].Error, "longer than 16 MiB")
	require.Error(t, s.Err())
	assert.Contains(t, s.Err().Error(), "the rest of the channel was lost")
}

type brokenReader struct{}

func (brokenReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestRead_ReadErrorIsKept(t *testing.T) {
	s := Read(brokenReader{})
	msgs := collect(s)
	require.Len(t, msgs, 1)
	assert.ErrorIs(t, s.Err(), io.ErrUnexpectedEOF)
}

func TestReplay_DeliversTheSeenMessagesFirstThenTheRestAndTheEnd(t *testing.T) {
	in := `{"kind":"hello","hello":{"protocol_version":2}}` + "\n" + `{"kind":"log","log":"after"}` + "\n" + strings.Repeat("x", protocol.MaxLine+1)
	s := Read(strings.NewReader(in))
	first := <-s.C()
	require.Equal(t, protocol.KindHello, first.Kind)
	r := s.Replay(protocol.Message{Kind: protocol.KindLog, Log: "before"}, first)
	msgs := collect(r)
	require.Len(t, msgs, 4)
	assert.Equal(t, "before", msgs[0].Log)
	assert.Equal(t, protocol.KindHello, msgs[1].Kind)
	assert.Equal(t, "after", msgs[2].Log)
	assert.Equal(t, protocol.KindError, msgs[3].Kind)
	assert.ErrorContains(t, r.Err(), "longer than")
}
