package rootfs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tsemlab/tsemlab/internal/yamlcheck"
	"gopkg.in/yaml.v3"
)

var (
	resolve  = yamlcheck.Resolve
	isNull   = yamlcheck.IsNull
	describe = yamlcheck.Describe
)

// pair is one key and its value in a mapping.
type pair struct{ key, val *yaml.Node }

// mapping checks that n is a mapping whose keys are all in allowed,
// reporting unknown and repeated keys, and returns its pairs by key. Merge
// keys are refused: a definition is short enough to write out.
func (d *decoder) mapping(n *yaml.Node, what, example string, allowed []string) (map[string]pair, bool) {
	r := resolve(n)
	if r.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping like %s, got %s", what, example, describe(r))
		return nil, false
	}
	out := map[string]pair{}
	for i := 0; i+1 < len(r.Content); i += 2 {
		kn, v := r.Content[i], r.Content[i+1]
		k := resolve(kn)
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			d.errorf(kn, "merge keys (<<) are not supported in image definitions; write the fields out")
			continue
		case k.Kind != yaml.ScalarNode || isNull(k):
			d.errorf(kn, "%s has a key that is %s; keys are plain field names", what, describe(k))
			continue
		}
		name := k.Value
		if prev, dup := out[name]; dup {
			d.errorf(kn, "field %q appears twice in %s (first at line %d); remove one", name, what, prev.key.Line)
			continue
		}
		if !slices.Contains(allowed, name) {
			hint := ""
			if s := nearest(name, allowed); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(kn, "unknown field %q in %s%s (allowed: %s)", name, what, hint, strings.Join(allowed, ", "))
			continue
		}
		out[name] = pair{kn, v}
	}
	return out, true
}

// str decodes a string field. Any scalar reads as its text.
func (d *decoder) str(key string, n *yaml.Node) (string, bool) {
	r := resolve(n)
	switch {
	case isNull(r):
		d.errorf(n, "%q is empty; give it a value or remove the line", key)
		return "", false
	case r.Kind == yaml.MappingNode:
		d.errorf(n, "%q must be a string, got a mapping; if the text contains \": \", quote it", key)
		return "", false
	case r.Kind != yaml.ScalarNode:
		d.errorf(n, "%q must be a string, got %s", key, describe(r))
		return "", false
	}
	return r.Value, true
}

// strItem is one string of a list, with its node for positions.
type strItem struct {
	val  string
	node *yaml.Node
}

// strList decodes a list of strings. Null is the empty list.
func (d *decoder) strList(key string, n *yaml.Node) []strItem {
	r := resolve(n)
	switch {
	case isNull(r):
		return nil
	case r.Kind != yaml.SequenceNode:
		d.errorf(n, "%q must be a list of strings like [a, b] or lines starting with -, got %s", key, describe(r))
		return nil
	}
	var out []strItem
	for _, item := range r.Content {
		ri := resolve(item)
		switch {
		case ri.Kind == yaml.MappingNode:
			d.errorf(item, "each item of %q must be a string, got a mapping; if the text contains \": \", quote it", key)
		case ri.Kind != yaml.ScalarNode || isNull(ri):
			d.errorf(item, "each item of %q must be a string, got %s", key, describe(ri))
		default:
			out = append(out, strItem{ri.Value, item})
		}
	}
	return out
}

// integer decodes a whole number.
func (d *decoder) integer(key string, n *yaml.Node) (int, bool) {
	r := resolve(n)
	var v int
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!int" || r.Decode(&v) != nil {
		d.errorf(n, "%q must be a whole number, got %s", key, describe(r))
		return 0, false
	}
	return v, true
}
