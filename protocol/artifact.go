package protocol

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// GzipAbove is the size from which an artifact's content travels
// compressed. The results port is an emulated 16550 UART, about 200 KB/s
// under TCG (a byte per I/O exit): a learn phase's trajectory of a
// thousand events (860 KB of JSON) took 4.6 s to send, and gzip shrinks
// such records about tenfold for a fraction of that.
const GzipAbove = 4096

// NewArtifact makes an artifact of content, gzipped when it is at least
// GzipAbove bytes and compression makes it smaller.
func NewArtifact(phase, name string, kind ArtifactKind, content string) *Artifact {
	a := &Artifact{Phase: phase, Name: name, Kind: kind, Content: content}
	if len(content) < GzipAbove {
		return a
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err != nil {
		return a
	}
	if _, err := io.WriteString(zw, content); err != nil || zw.Close() != nil {
		return a
	}
	// base64 in the JSON line makes 4 bytes of 3.
	if b.Len()*4/3 >= len(content) {
		return a
	}
	a.Content, a.Gzip = "", b.Bytes()
	return a
}

// ErrArtifactTooBig is returned by Text when the content would exceed its
// limit.
var ErrArtifactTooBig = errors.New("artifact content too big")

// Text returns the artifact's content, decompressed when it came gzipped,
// refusing more than limit bytes (a guest's gzip bomb stops there).
func (a *Artifact) Text(limit int) (string, error) {
	if a.Gzip == nil {
		if len(a.Content) > limit {
			return "", fmt.Errorf("%s: %w (%d bytes, limit %d)", a.Name, ErrArtifactTooBig, len(a.Content), limit)
		}
		return a.Content, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.Gzip))
	if err != nil {
		return "", fmt.Errorf("%s: gzipped content: %w", a.Name, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return "", fmt.Errorf("%s: gzipped content: %w", a.Name, err)
	}
	if len(data) > limit {
		return "", fmt.Errorf("%s: %w (more than %d bytes once decompressed)", a.Name, ErrArtifactTooBig, limit)
	}
	return string(data), nil
}
