package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxDepth bounds the nesting of a profile document; real profiles nest
// four levels deep.
const maxDepth = 32

// nodeKind is the JSON type of a node.
type nodeKind int

const (
	kindNull nodeKind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k nodeKind) String() string {
	return [...]string{"null", "true or false", "a number", "a string", "a list", "an object"}[k]
}

// node is one JSON value with the byte offset where it starts, so that
// every mistake can be reported at its line and column.
type node struct {
	kind  nodeKind
	off   int
	str   string
	num   json.Number
	items []*node
	// fields keep the object's keys in document order.
	fields []field
}

type field struct {
	key    string
	keyOff int
	val    *node
}

// tree parses data as exactly one JSON value.
type tree struct {
	data []byte
	dec  *json.Decoder
}

func parseTree(data []byte) (*node, error) {
	t := &tree{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	t.dec.UseNumber()
	n, err := t.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := t.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Offset: t.start(int(t.dec.InputOffset())), Msg: "text after the profile's closing }; a profile file holds one JSON object"}
	}
	return n, nil
}

// start returns the offset of the next token at or after off, skipping
// white space and the separators the decoder has not consumed yet.
func (t *tree) start(off int) int {
	for off < len(t.data) && strings.IndexByte(" \t\r\n,:", t.data[off]) >= 0 {
		off++
	}
	return off
}

func (t *tree) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &Error{Offset: int(t.dec.InputOffset()), Msg: fmt.Sprintf("the document nests deeper than %d levels; a profile is an object of lists of objects", maxDepth)}
	}
	off := t.start(int(t.dec.InputOffset()))
	tok, err := t.dec.Token()
	if err != nil {
		return nil, t.syntax(err, off)
	}
	n := &node{off: off}
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			n.kind = kindArray
			return n, t.array(n, depth)
		}
		if v == '{' {
			n.kind = kindObject
			return n, t.object(n, depth)
		}
		return nil, &Error{Offset: off, Msg: fmt.Sprintf("unexpected %q", string(v))}
	case string:
		n.kind, n.str = kindString, v
	case json.Number:
		n.kind, n.num = kindNumber, v
	case bool:
		n.kind = kindBool
	case nil:
		n.kind = kindNull
	}
	return n, nil
}

func (t *tree) array(n *node, depth int) error {
	for t.dec.More() {
		item, err := t.value(depth + 1)
		if err != nil {
			return err
		}
		n.items = append(n.items, item)
	}
	_, err := t.dec.Token() // ]
	return t.syntax(err, int(t.dec.InputOffset()))
}

func (t *tree) object(n *node, depth int) error {
	for t.dec.More() {
		off := t.start(int(t.dec.InputOffset()))
		tok, err := t.dec.Token()
		if err != nil {
			return t.syntax(err, off)
		}
		key, _ := tok.(string)
		val, err := t.value(depth + 1)
		if err != nil {
			return err
		}
		n.fields = append(n.fields, field{key: key, keyOff: off, val: val})
	}
	_, err := t.dec.Token() // }
	return t.syntax(err, int(t.dec.InputOffset()))
}

// syntax turns a decoder error into an Error at the best offset known.
func (t *tree) syntax(err error, off int) error {
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = int(se.Offset)
		if off > 0 {
			off--
		}
	}
	msg := strings.TrimPrefix(err.Error(), "invalid character ")
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		msg = "the file ends before the profile does: a } or ] is missing"
		off = len(t.data)
	case se != nil:
		msg = "invalid JSON: invalid character " + msg
		if strings.Contains(msg, "looking for beginning of object key string") {
			msg += " (keys are quoted, and JSON allows no comma before } or ])"
		}
	default:
		msg = "invalid JSON: " + err.Error()
	}
	return &Error{Offset: off, Msg: msg}
}

// get returns the field of object n named key, or nil.
func (n *node) get(key string) *node {
	for _, f := range n.fields {
		if f.key == key {
			return f.val
		}
	}
	return nil
}
