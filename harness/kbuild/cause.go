package kbuild

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tsemlab/tsemlab/harness/kernel"
)

// kconfigIndex is what the tree's Kconfig files say about each symbol,
// enough to explain why an option did not survive olddefconfig. It reads
// each file on its own (the context a `source` line gives a file is not
// followed), so it names likely causes, not certain ones.
type kconfigIndex struct {
	defs map[string][]*definition
	// selectors maps a symbol to the symbols that select it.
	selectors map[string][]string
}

// definition is one `config X` entry.
type definition struct {
	file string
	line int
	// depends holds the entry's `depends on` expressions and those of the
	// enclosing if, menu and choice blocks of the same file.
	depends []string
	prompt  bool
	choice  bool
}

// frame is an enclosing if/menu/choice block.
type frame struct {
	kind    string
	depends []string
}

// indexKconfig reads every Kconfig* file of the tree; unreadable files
// are left out (the index only explains).
func indexKconfig(tree string) *kconfigIndex {
	idx := &kconfigIndex{defs: map[string][]*definition{}, selectors: map[string][]string{}}
	_ = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "Documentation" || d.Name() == "tools") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "Kconfig") {
			rel, _ := filepath.Rel(tree, p)
			idx.readFile(p, rel)
		}
		return nil
	})
	return idx
}

func (idx *kconfigIndex) readFile(path, rel string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var stack []*frame
	var cur *definition
	var curName string
	var curFrame *frame // a menu or choice taking `depends on`
	helpIndent := -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if helpIndent >= 0 {
			if line == "" || indent(raw) > helpIndent {
				continue
			}
			helpIndent = -1
		}
		line = stripComment(line)
		if line == "" {
			continue
		}
		word, rest := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			word, rest = line[:i], strings.TrimSpace(line[i+1:])
		}
		switch word {
		case "config", "menuconfig":
			cur, curName, curFrame = &definition{file: rel, line: n}, rest, nil
			for _, fr := range stack {
				cur.depends = append(cur.depends, fr.depends...)
				cur.choice = cur.choice || fr.kind == "choice"
			}
			idx.defs[rest] = append(idx.defs[rest], cur)
		case "choice", "menu", "if":
			fr := &frame{kind: word}
			if word == "if" {
				fr.depends = []string{rest}
			}
			stack = append(stack, fr)
			cur, curFrame = nil, fr
			if word == "if" {
				curFrame = nil
			}
		case "endchoice", "endmenu", "endif":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			cur, curFrame = nil, nil
		case "comment", "source", "mainmenu":
			cur, curFrame = nil, nil
		case "depends":
			expr := strings.TrimSpace(strings.TrimPrefix(rest, "on"))
			if cur != nil {
				cur.depends = append(cur.depends, expr)
			} else if curFrame != nil {
				curFrame.depends = append(curFrame.depends, expr)
			}
		case "select":
			if cur != nil {
				target, _, _ := strings.Cut(rest, " ")
				idx.selectors[target] = append(idx.selectors[target], curName)
			}
		case "help", "---help---":
			helpIndent = indent(raw)
		case "bool", "tristate", "string", "int", "hex", "prompt":
			if cur != nil && strings.HasPrefix(rest, `"`) {
				cur.prompt = true
			}
		}
	}
}

// BuildArch is the architecture kernels are built for (ARCH=x86_64 uses
// arch/x86).
const BuildArch = "x86"

// otherArch says whether every Kconfig entry of sym is under arch/A/ for
// an architecture A other than arch, and names the first such file.
func (idx *kconfigIndex) otherArch(sym, arch string) (string, bool) {
	defs := idx.defs[sym]
	if len(defs) == 0 {
		return "", false
	}
	for _, d := range defs {
		parts := strings.Split(filepath.ToSlash(d.file), "/")
		if len(parts) < 3 || parts[0] != "arch" || parts[1] == arch {
			return "", false
		}
	}
	return fmt.Sprintf("another architecture (%s:%d)", defs[0].file, defs[0].line), true
}

// stripComment removes a # comment (outside double quotes) and the white
// space around what is left.
func stripComment(line string) string {
	quoted := false
	for i, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case c == '#' && !quoted:
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

// indent is the width of a line's leading white space (tabs count 8).
func indent(s string) int {
	w := 0
	for _, c := range s {
		switch c {
		case ' ':
			w++
		case '\t':
			w += 8 - w%8
		default:
			return w
		}
	}
	return w
}

// cause explains why option m did not get its value in cfg.
func (idx *kconfigIndex) cause(tree string, m kernel.Mismatch, cfg *kernel.Fragment) string {
	sym := strings.TrimPrefix(m.Option, "CONFIG_")
	defs := idx.defs[sym]
	if len(defs) == 0 {
		if strings.HasPrefix(sym, "SECURITY_TSEM") {
			if _, err := os.Stat(filepath.Join(tree, "security", "tsem", "Kconfig")); err != nil {
				return "this tree has no security/tsem; it is not a TSEM tree"
			}
		}
		return "no Kconfig file of this tree defines it (another kernel version, or a feature this tree does not have)"
	}
	if m.Want == "n" {
		var on []string
		for _, s := range idx.selectors[sym] {
			if isSet(cfg, s) {
				on = append(on, "CONFIG_"+s)
			}
		}
		if len(on) > 0 {
			return "it is selected by " + strings.Join(on, ", ")
		}
		return "olddefconfig set it (a default or a select overrides the fragment)"
	}
	var unmet []string
	for _, d := range defs {
		for _, dep := range d.depends {
			for _, c := range conjuncts(dep) {
				if evalExpr(c, cfg) == 0 {
					unmet = append(unmet, fmt.Sprintf("it depends on %s (%s:%d) and %s", c, d.file, d.line, describeSymbols(c, cfg)))
				}
			}
		}
	}
	switch {
	case len(unmet) > 0:
		return "unmet dependency: " + strings.Join(unmet, "; ") + "; add what it needs to a fragment"
	case !slices.ContainsFunc(defs, func(d *definition) bool { return d.prompt }):
		return fmt.Sprintf("it has no prompt (%s:%d): only a select from another option sets it%s", defs[0].file, defs[0].line, idx.selectedBy(sym))
	case slices.ContainsFunc(defs, func(d *definition) bool { return d.choice }):
		return "it is one option of a choice; olddefconfig kept another (set the choice's other options to n)"
	}
	return "olddefconfig changed it (a range, a choice or a select overrides the fragment)"
}

// selectedBy names the options that select sym, none of which is set
// when this is asked (", and none of A, B is set").
func (idx *kconfigIndex) selectedBy(sym string) string {
	sel := slices.Compact(slices.Sorted(slices.Values(idx.selectors[sym])))
	switch {
	case len(sel) == 0:
		return ", and no option of this tree selects it"
	case len(sel) > 6:
		return fmt.Sprintf(", and none of the %d options that select it (%s, ...) is set", len(sel), strings.Join(prefixed(sel[:6]), ", "))
	}
	return fmt.Sprintf(", and none of the options that select it (%s) is set", strings.Join(prefixed(sel), ", "))
}

func prefixed(syms []string) []string {
	out := make([]string, len(syms))
	for i, s := range syms {
		out[i] = "CONFIG_" + s
	}
	return out
}

// isSet says whether symbol s is y or m in cfg.
func isSet(cfg *kernel.Fragment, s string) bool {
	v := cfg.Options["CONFIG_"+s]
	return v == "y" || v == "m"
}

// describeSymbols says what the symbols of expr are in cfg
// ("CONFIG_NET is not set, CONFIG_INET=y").
func describeSymbols(expr string, cfg *kernel.Fragment) string {
	var parts []string
	for _, tok := range tokenize(expr) {
		if !isSymbol(tok) || slices.Contains(parts, tok) {
			continue
		}
		if v, ok := cfg.Options["CONFIG_"+tok]; !ok || v == "n" {
			parts = append(parts, "CONFIG_"+tok+" is not set")
		} else {
			parts = append(parts, "CONFIG_"+tok+"="+v)
		}
	}
	if len(parts) == 0 {
		return "it is not met"
	}
	return strings.Join(parts, ", ")
}
