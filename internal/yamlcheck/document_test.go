package yamlcheck

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestYAMLMessageShapes pins the yaml.v3 error texts SyntaxError reads: if
// an upgrade changes one, this fails instead of the hints silently going.
func TestYAMLMessageShapes(t *testing.T) {
	decode := func(src string) error {
		var n yaml.Node
		return yaml.NewDecoder(bytes.NewReader([]byte(src))).Decode(&n)
	}
	tests := []struct{ src, re string }{
		{"x: 1\na: b: c\n", `^yaml: line 2: mapping values are not allowed in this context$`},
		{"x: 1\na:\n  - x\n - y\n", `^yaml: line 3: did not find expected key$`},
		{"x: 1\na: [x, y\n", `^yaml: line 1: did not find expected ',' or ']'$`},
		{"x: 1\na: @x\n", `^yaml: line 2: found character that cannot start any token$`},
		// On the first line yaml.v3 gives no line at all.
		{"a: b: c\n", `^yaml: mapping values are not allowed in this context$`},
		{"a: *nosuch\n", `^yaml: unknown anchor 'nosuch' referenced$`},
	}
	for _, tt := range tests {
		err := decode(tt.src)
		require.Error(t, err, tt.src)
		assert.Regexp(t, tt.re, err.Error())
		if tt.src != "a: b: c\n" && yamlErrRE.FindStringSubmatch(err.Error()) == nil {
			assert.Regexp(t, unknownAnchorRE, err.Error()[len("yaml: "):])
		}
	}
}

func TestDocument_PositionsAndHints(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "f.yaml: file is empty; a scenario needs at least name:"},
		{"x: 1\na: b: c\n", `f.yaml:2: invalid YAML: mapping values are not allowed in this context; if a value contains ": ", quote it (run: "echo a: b")`},
		{"a:\n\t- x\n", "f.yaml:2:1: invalid YAML: a tab is used for indentation; YAML indents with spaces only, replace the tab with spaces"},
		{"a: 1\nb: *nosuch\n", "f.yaml:2:4: invalid YAML: unknown anchor 'nosuch' referenced; define it first with &nosuch on the node to repeat, or remove the *"},
		{"a: 1\n---\nb: 2\n", "f.yaml:2:1: a scenario file holds one YAML document; move this one to a file of its own (or remove the --- line above it)"},
	}
	for _, tt := range tests {
		root, errs := Document("f.yaml", []byte(tt.src), "a scenario", "name:")
		assert.Nil(t, root, tt.src)
		require.NotEmpty(t, errs, tt.src)
		assert.Equal(t, tt.want, errs[0].Error())
		var ve *ValidationError
		assert.True(t, errors.As(ValidationErrors(errs), &ve))
	}
	root, errs := Document("f.yaml", []byte("name: x\n"), "a scenario", "name:")
	require.Empty(t, errs)
	assert.Equal(t, yaml.MappingNode, root.Kind)
}
