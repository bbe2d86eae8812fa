package yamlcheck

import (
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Resolve follows aliases to the node they stand for. A chain that does
// not end reads as null (decoders refuse alias cycles, which yaml.v3
// accepts, before their walk; this is belt and braces).
func Resolve(n *yaml.Node) *yaml.Node {
	for range 64 {
		if n == nil {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
		}
		if n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// IsNull reports whether n is an explicit or implied null.
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Describe says what n is, for "got ..." in messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return n.Value
		case "!!bool":
			return n.Value
		default:
			return fmt.Sprintf("%q", Excerpt(n.Value, 60))
		}
	}
	return "nothing"
}

// Excerpt shortens s to about n bytes for a message.
func Excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
