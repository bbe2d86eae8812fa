package protocol

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewArtifact_GzipsLargeRecordsAndTextRestoresThem(t *testing.T) {
	record := `{"event": {"context": "2", "number": "30", "process": "runc", "type": "file_open", "task_id": "a497fe51"}}` + "\n"
	big := strings.Repeat(record, 500)
	a := NewArtifact("learn", "learn.trajectory", ArtifactKind("trajectory"), big)
	require.NotNil(t, a.Gzip)
	assert.Empty(t, a.Content)
	assert.Less(t, len(a.Gzip), len(big)/10, "JSON records shrink tenfold or better")
	got, err := a.Text(len(big))
	require.NoError(t, err)
	assert.Equal(t, big, got)

	// The JSON line carries it, and it decodes back.
	line, err := Encode(Message{Kind: KindArtifact, Artifact: a})
	require.NoError(t, err)
	m, err := Decode(bytes.TrimRight(line, "\n"))
	require.NoError(t, err)
	got, err = m.Artifact.Text(len(big))
	require.NoError(t, err)
	assert.Equal(t, big, got)
}

func TestNewArtifact_SmallOrIncompressibleTravelAsText(t *testing.T) {
	small := NewArtifact("p", "p.id", ArtifactNamespaceID, "2\n")
	assert.Nil(t, small.Gzip)
	assert.Equal(t, "2\n", small.Content)

	raw := make([]byte, 8192)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	noise := string(raw)
	a := NewArtifact("p", "p.bin", ArtifactKind("x"), noise)
	assert.Nil(t, a.Gzip, "compressing random bytes gains nothing")
	got, err := a.Text(len(noise))
	require.NoError(t, err)
	assert.Equal(t, noise, got)
}

func TestArtifactText_LimitsAndBadContent(t *testing.T) {
	plain := &Artifact{Name: "a", Content: "12345"}
	_, err := plain.Text(4)
	require.ErrorIs(t, err, ErrArtifactTooBig)

	// A small gzip that decompresses to far more than the limit.
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(make([]byte, 1<<20))
	require.NoError(t, zw.Close())
	bomb := &Artifact{Name: "bomb", Gzip: b.Bytes()}
	_, err = bomb.Text(1000)
	require.ErrorIs(t, err, ErrArtifactTooBig)
	assert.Contains(t, err.Error(), "bomb: ")

	bad := &Artifact{Name: "bad", Gzip: []byte(hex.EncodeToString([]byte("not gzip")))}
	_, err = bad.Text(1000)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad: gzipped content")
}
