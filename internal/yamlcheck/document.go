package yamlcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

var (
	// yamlErrRE matches yaml.v3's positioned syntax errors.
	yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// unknownAnchorRE matches yaml.v3's message for an undefined alias.
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// Document parses data, the content of file, as exactly one YAML document
// and returns its root node, or nil and why not. what is the kind of file
// ("a scenario"), least what an empty one lacks ("name: and phases:").
func Document(file string, data []byte, what, least string) (root *yaml.Node, errs []*ValidationError) {
	errorf := func(n *yaml.Node, format string, args ...any) {
		e := &ValidationError{File: file, Msg: fmt.Sprintf(format, args...)}
		if n != nil {
			e.Line, e.Col = n.Line, n.Column
		}
		errs = append(errs, e)
	}
	defer func() {
		// yaml.v3 has panicked on crafted input before; such a file is
		// reported, never allowed to take the harness down.
		if r := recover(); r != nil {
			errorf(nil, "invalid YAML: the parser gave up (%v); check the file's syntax", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			errorf(nil, "file is empty; %s needs at least %s", what, least)
		} else {
			errs = append(errs, SyntaxError(file, err, data))
		}
		return nil, errs
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		errorf(nil, "file is empty; %s needs at least %s", what, least)
		return nil, errs
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, append(errs, SyntaxError(file, err, data))
	default:
		errorf(&next, "%s file holds one YAML document; move this one to a file of its own (or remove the --- line above it)", what)
		return nil, errs
	}
	return doc.Content[0], nil
}

// SyntaxError turns a yaml.v3 error ("yaml: line 3: ...") into a
// ValidationError at that line, with a hint for the usual causes. The
// message shapes it relies on are pinned by TestYAMLMessageShapes.
func SyntaxError(file string, err error, data []byte) *ValidationError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlErrRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	e := &ValidationError{File: file, Line: line, Msg: "invalid YAML: " + msg}
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil && line == 0 {
		// yaml.v3 gives no position here; the first use is the one.
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			e.Line = bytes.Count(data[:i], []byte("\n")) + 1
			e.Col = utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i]) + 1
			e.Msg += fmt.Sprintf("; define it first with &%s on the node to repeat, or remove the *", m[1])
		}
	}
	lines := strings.Split(string(data), "\n")
	// A tab in the indentation is the most common cause and yaml.v3 names
	// it obscurely; look on the reported line and its neighbours.
	for _, l := range []int{line, line - 1, line + 1} {
		if l < 1 || l > len(lines) {
			continue
		}
		text := lines[l-1]
		// The indentation of a list item goes on after its "- ".
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t-"))]
		if i := strings.IndexByte(indent, '\t'); i >= 0 {
			e.Line, e.Col = l, i+1
			e.Msg = "invalid YAML: a tab is used for indentation; YAML indents with spaces only, replace the tab with spaces"
			return e
		}
	}
	switch {
	case strings.Contains(msg, "mapping values are not allowed"):
		e.Msg += `; if a value contains ": ", quote it (run: "echo a: b")`
	case strings.Contains(msg, "did not find expected key"), strings.Contains(msg, "did not find expected '-' indicator"):
		e.Msg += "; check the indentation of this line and the ones above it"
	case strings.Contains(msg, "did not find expected ',' or ']'"), strings.Contains(msg, "did not find expected ',' or '}'"):
		e.Msg += "; a [...] or {...} is not closed on this line or the next (quote text that contains [, ], { or })"
	case strings.Contains(msg, "found character that cannot start any token"):
		e.Msg += "; quote values that start with @ or `"
	}
	return e
}
