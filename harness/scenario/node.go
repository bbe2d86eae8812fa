package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/internal/yamlcheck"
	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.v3 node tree against the scenario schema, gathering
// every mistake with its position instead of stopping at the first one.
type decoder struct {
	file string
	errs []*ValidationError
	// typos holds, per mapping, the field names suggested for unknown
	// fields, so that a misspelt required field is reported once.
	typos map[*yaml.Node]map[string]bool
	// merges counts merge-key expansions, which aliases can make grow
	// exponentially with the file's size.
	merges int
}

// maxMerges bounds merge-key expansions per file.
const maxMerges = 10000

// mergeBudget reports whether another merge may be expanded, reporting at
// n when the budget runs out.
func (d *decoder) mergeBudget(n *yaml.Node) bool {
	d.merges++
	if d.merges == maxMerges+1 {
		d.errorf(n, "merge keys (<<) expand to more than %d mappings; write the fields out", maxMerges)
	}
	return d.merges <= maxMerges
}

// lacks reports a required field missing from mapping n, unless an
// unknown field there was already reported as a misspelling of it.
func (d *decoder) lacks(n *yaml.Node, key, format string, args ...any) {
	if d.typos[resolve(n)][key] {
		return
	}
	d.errorf(n, format, args...)
}

// maxQuoted bounds the user text a message repeats: a value or key of a
// megabyte is shown by its start.
const maxQuoted = 200

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxQuoted {
			args[i] = excerpt(s, maxQuoted)
		}
	}
	e := &ValidationError{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// result returns the gathered errors in position order, without the
// repeats that merge keys and aliases can cause, or nil.
func (d *decoder) result() ValidationErrors {
	if len(d.errs) == 0 {
		return nil
	}
	sortErrors(d.errs)
	var out ValidationErrors
	seen := map[ValidationError]bool{}
	for _, e := range d.errs {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	return out
}

var (
	resolve  = yamlcheck.Resolve
	isNull   = yamlcheck.IsNull
	describe = yamlcheck.Describe
	excerpt  = yamlcheck.Excerpt
)

// pair is one key and its value in a mapping.
type pair struct{ key, val *yaml.Node }

// mapping checks that n is a mapping whose keys are all in allowed,
// reporting unknown and repeated keys, and returns its pairs by key.
// Merge keys (<<: *anchor) are expanded; explicit keys win over merged ones.
func (d *decoder) mapping(n *yaml.Node, what, example string, allowed []string) (map[string]pair, bool) {
	r := resolve(n)
	if r.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping like %s, got %s", what, example, describe(r))
		return nil, false
	}
	out := map[string]pair{}
	d.pairs(r, r, what, allowed, out, true, 0)
	return out, true
}

func (d *decoder) pairs(owner, r *yaml.Node, what string, allowed []string, out map[string]pair, explicit bool, depth int) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, v := resolve(r.Content[i]), r.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errorf(r.Content[i], "%s has a key that is %s; keys are plain field names", what, describe(k))
			continue
		}
		name := k.Value
		if prev, dup := out[name]; dup {
			if explicit {
				d.errorf(r.Content[i], "field %q appears twice in %s (first at line %d); remove one", name, what, prev.key.Line)
			}
			continue
		}
		if !slices.Contains(allowed, name) {
			if s := d.unknownField(r.Content[i], name, what, allowed); s != "" {
				if d.typos == nil {
					d.typos = map[*yaml.Node]map[string]bool{}
				}
				if d.typos[owner] == nil {
					d.typos[owner] = map[string]bool{}
				}
				d.typos[owner][s] = true
			}
			continue
		}
		out[name] = pair{r.Content[i], v}
	}
	for _, m := range merges {
		d.merge(owner, m, what, allowed, out, depth+1)
	}
}

func (d *decoder) merge(owner, n *yaml.Node, what string, allowed []string, out map[string]pair, depth int) {
	if depth > 16 {
		d.errorf(n, "merge keys (<<) nest too deeply; write the fields out")
		return
	}
	if !d.mergeBudget(n) {
		return
	}
	r := resolve(n)
	switch r.Kind {
	case yaml.MappingNode:
		d.pairs(owner, r, what, allowed, out, false, depth)
	case yaml.SequenceNode:
		for _, m := range r.Content {
			d.merge(owner, m, what, allowed, out, depth+1)
		}
	default:
		d.errorf(n, "a merge key (<<) needs a mapping or an alias of one like <<: *defaults, got %s", describe(r))
	}
}

// unknownField reports an unknown field and returns the field it is
// probably a misspelling of, or "".
func (d *decoder) unknownField(k *yaml.Node, name, what string, allowed []string) string {
	hint := ""
	s := nearest(name, allowed)
	if s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	d.errorf(k, "unknown field %q in %s%s (allowed: %s)", name, what, hint, strings.Join(allowed, ", "))
	return s
}

// str decodes a string field. Any scalar reads as its text: `name: 123` is
// the string "123".
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

// strItems decodes a field that is a string or a list of strings. Null
// is the empty list.
func (d *decoder) strItems(key string, n *yaml.Node) []strItem {
	r := resolve(n)
	switch {
	case isNull(r):
		return nil
	case r.Kind == yaml.ScalarNode:
		return []strItem{{r.Value, n}}
	case r.Kind != yaml.SequenceNode:
		d.errorf(n, "%q must be a string or a list of strings, got %s", key, describe(r))
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

// argv decodes a command line written as a list of words.
func (d *decoder) argv(key string, n *yaml.Node) []string {
	r := resolve(n)
	if r.Kind != yaml.SequenceNode || len(r.Content) == 0 {
		d.errorf(n, "%q must be a non-empty list of words like [/bin/bash, --norc], got %s", key, describe(r))
		return nil
	}
	items := d.strItems(key, n)
	if len(items) > 0 && items[0].val == "" {
		d.errorf(items[0].node, "the first word of %q is the program and cannot be empty", key)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.val)
	}
	return out
}

// duration decodes a Go duration that must be positive.
func (d *decoder) duration(key string, n *yaml.Node) time.Duration {
	r := resolve(n)
	if r.Kind != yaml.ScalarNode || isNull(r) {
		d.errorf(n, "%q must be a duration like 90s or 3m, got %s", key, describe(r))
		return 0
	}
	v, err := time.ParseDuration(r.Value)
	if err != nil {
		hint := ""
		if r.ShortTag() == "!!int" || r.ShortTag() == "!!float" {
			hint = fmt.Sprintf(" (add a unit: %ss)", r.Value)
		}
		d.errorf(n, "%q must be a duration like 90s or 3m, got %s%s", key, describe(r), hint)
		return 0
	}
	if v <= 0 {
		d.errorf(n, "%q must be longer than 0, got %s", key, r.Value)
		return 0
	}
	return v
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

// boolean decodes true or false.
func (d *decoder) boolean(key string, n *yaml.Node) bool {
	r := resolve(n)
	var v bool
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!bool" || r.Decode(&v) != nil {
		d.errorf(n, "%q must be true or false, got %s", key, describe(r))
		return false
	}
	return v
}

// enum decodes a string that must be one of choices.
func (d *decoder) enum(key string, n *yaml.Node, choices ...string) (string, bool) {
	v, ok := d.str(key, n)
	if !ok {
		return "", false
	}
	if slices.Contains(choices, v) {
		return v, true
	}
	hint := ""
	if s := nearest(v, choices); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	d.errorf(n, "%q must be one of %s, got %q%s", key, strings.Join(choices, ", "), v, hint)
	return "", false
}

// strMap decodes a mapping of names to strings; any scalar value reads as
// its text and null as "".
func (d *decoder) strMap(key string, n *yaml.Node, validKey func(string) string) map[string]string {
	r := resolve(n)
	if isNull(r) {
		return nil
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(n, "%q must be a mapping like {NAME: value}, got %s", key, describe(r))
		return nil
	}
	out := map[string]string{}
	seen := map[string]int{}
	d.strMapPairs(key, r, validKey, out, seen, 0)
	return out
}

func (d *decoder) strMapPairs(key string, r *yaml.Node, validKey func(string) string, out map[string]string, seen map[string]int, depth int) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, v := resolve(r.Content[i]), resolve(r.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, r.Content[i+1])
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errorf(r.Content[i], "keys of %q must be names, got %s", key, describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			if depth == 0 {
				d.errorf(r.Content[i], "%q appears twice in %q (first at line %d); remove one", k.Value, key, line)
			}
			continue
		}
		seen[k.Value] = k.Line
		if msg := validKey(k.Value); msg != "" {
			d.errorf(r.Content[i], "%s", msg)
			continue
		}
		switch {
		case isNull(v):
			out[k.Value] = ""
		case v.Kind == yaml.ScalarNode:
			out[k.Value] = v.Value
		default:
			d.errorf(r.Content[i+1], "the value of %q in %q must be a string, got %s", k.Value, key, describe(v))
		}
	}
	for _, m := range merges {
		if depth > 16 {
			d.errorf(m, "merge keys (<<) nest too deeply; write the entries out")
			return
		}
		if !d.mergeBudget(m) {
			return
		}
		rm := resolve(m)
		if rm.Kind != yaml.MappingNode {
			d.errorf(m, "a merge key (<<) in %q needs a mapping or an alias of one, got %s", key, describe(rm))
			continue
		}
		d.strMapPairs(key, rm, validKey, out, seen, depth+1)
	}
}
