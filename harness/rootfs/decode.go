package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tsemlab/tsemlab/internal/yamlcheck"
	"gopkg.in/yaml.v3"
)

// Fields each part of a definition may have, in the order messages list them.
var (
	definitionFields = []string{"name", "description", "suite", "variant", "packages", "users", "files", "customize", "entrypoint"}
	userFields       = []string{"name", "uid", "shell"}
	fileFields       = []string{"path", "mode", "content"}
)

// Load reads and validates one definition file. Its errors are
// ValidationErrors.
func Load(file string) (*Definition, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		msg := "cannot read: " + err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "file does not exist; check the path"
		}
		return nil, ValidationErrors{{File: file, Msg: msg}}
	}
	return Parse(file, data)
}

// Parse validates the definition in data; file names where it came from,
// for messages, and must be NAME.yaml.
func Parse(file string, data []byte) (*Definition, error) {
	d := &decoder{file: file}
	var def *Definition
	if root := d.document(data); root != nil {
		def = d.definition(root)
	}
	if errs := d.result(); errs != nil {
		return nil, errs
	}
	return def, nil
}

// LoadDir loads every definition (*.yaml, *.yml) in dir, in name order,
// gathering the errors of all of them.
func LoadDir(dir string) ([]*Definition, error) {
	files, err := definitionFiles(dir)
	if err != nil {
		return nil, err
	}
	var (
		out  []*Definition
		errs ValidationErrors
		seen = map[string]string{}
	)
	for _, f := range files {
		def, err := Load(f)
		if err != nil {
			var ves ValidationErrors
			if errors.As(err, &ves) {
				errs = append(errs, ves...)
				continue
			}
			return nil, err
		}
		if prev, dup := seen[def.Name]; dup {
			errs = append(errs, &ValidationError{File: f, Msg: fmt.Sprintf("image %q is also defined by %s; remove one of the two files", def.Name, prev)})
			continue
		}
		seen[def.Name] = f
		out = append(out, def)
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// Find loads the definition called name from dir.
func Find(dir, name string) (*Definition, error) {
	for _, ext := range []string{".yaml", ".yml"} {
		f := filepath.Join(dir, name+ext)
		if _, err := os.Stat(f); err == nil {
			return Load(f)
		}
	}
	files, _ := definitionFiles(dir)
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".yaml"), ".yml"))
	}
	hint := ""
	if s := nearest(name, names); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, fmt.Errorf("no image definition %q in %s%s (defined: %s)", name, dir, hint, strings.Join(names, ", "))
}

func definitionFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read image definitions: %w", err)
	}
	var files []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); (ext == ".yaml" || ext == ".yml") && !e.IsDir() {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

// decoder gathers every error of one file.
type decoder struct {
	file string
	errs []*ValidationError
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	e := &ValidationError{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) result() ValidationErrors {
	if len(d.errs) == 0 {
		return nil
	}
	sortErrors(d.errs)
	return ValidationErrors(d.errs)
}

// document parses data as exactly one YAML document and returns its root
// node, or nil after recording why not.
func (d *decoder) document(data []byte) *yaml.Node {
	root, errs := yamlcheck.Document(d.file, data, "an image definition", "name:")
	d.errs = append(d.errs, errs...)
	return root
}

// definition decodes the top-level mapping.
func (d *decoder) definition(root *yaml.Node) *Definition {
	def := &Definition{File: d.file, Suite: DefaultSuite, Variant: DefaultVariant}
	m, ok := d.mapping(root, "an image definition", "{name: debian-minimal, packages: [bash]}", definitionFields)
	if !ok {
		return def
	}
	if p, ok := m["name"]; ok {
		def.Name = d.name(p.val)
	} else {
		d.errorf(root, "image definition has no \"name\"; add a line like name: %s", fileBase(d.file))
	}
	if p, ok := m["description"]; ok {
		def.Description, _ = d.str("description", p.val)
	}
	if p, ok := m["suite"]; ok {
		if v, ok := d.str("suite", p.val); ok {
			if suiteRE.MatchString(v) {
				def.Suite = v
			} else {
				d.errorf(p.val, "\"suite\" must be a Debian codename like buster or bookworm, got %q", v)
			}
		}
	}
	if p, ok := m["variant"]; ok {
		if v, ok := d.str("variant", p.val); ok {
			if slices.Contains(Variants, v) {
				def.Variant = v
			} else {
				hint := ""
				if s := nearest(v, Variants); s != "" {
					hint = fmt.Sprintf("; did you mean %q?", s)
				}
				d.errorf(p.val, "\"variant\" must be one of %s, got %q%s", strings.Join(Variants, ", "), v, hint)
			}
		}
	}
	if p, ok := m["packages"]; ok {
		def.Packages = d.packages(p.val)
	}
	if p, ok := m["users"]; ok {
		def.Users = d.users(p.val)
	}
	if p, ok := m["files"]; ok {
		def.Files = d.files(p.val)
	}
	if p, ok := m["customize"]; ok {
		for _, it := range d.strList("customize", p.val) {
			if strings.TrimSpace(it.val) == "" {
				d.errorf(it.node, "a \"customize\" command is empty; remove the item or give the command")
				continue
			}
			def.Customize = append(def.Customize, it.val)
		}
	}
	if p, ok := m["entrypoint"]; ok {
		items := d.strList("entrypoint", p.val)
		switch r := resolve(p.val); {
		case len(items) == 0 && (isNull(r) || r.Kind == yaml.SequenceNode):
			d.errorf(p.val, "\"entrypoint\" must be a non-empty list of words like [apache2ctl, -D, FOREGROUND]; remove the line for the scenario's shell")
		case len(items) > 0 && items[0].val == "":
			d.errorf(items[0].node, "the first word of \"entrypoint\" is the program and cannot be empty")
		}
		for _, it := range items {
			def.Entrypoint = append(def.Entrypoint, it.val)
		}
	}
	return def
}

// fileBase is the definition name a file implies.
func fileBase(file string) string {
	b := filepath.Base(file)
	return strings.TrimSuffix(strings.TrimSuffix(b, ".yaml"), ".yml")
}

func (d *decoder) name(n *yaml.Node) string {
	v, ok := d.str("name", n)
	if !ok {
		return ""
	}
	switch {
	case !nameRE.MatchString(v):
		d.errorf(n, "\"name\" must be lower-case letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit, got %q", v)
		return ""
	case slices.Contains(Reserved, v):
		d.errorf(n, "\"name\" %q is reserved (tsemlab image build %s builds the u-root initramfs); choose another name and rename the file to match", v, v)
		return ""
	case v != fileBase(d.file):
		d.errorf(n, "\"name\" is %q but the file is %s; scenarios find images by file name, so rename the file to %s.yaml or set name: %s", v, filepath.Base(d.file), v, fileBase(d.file))
		return ""
	}
	return v
}

func (d *decoder) packages(n *yaml.Node) []string {
	var out []string
	seen := map[string]int{}
	for _, it := range d.strList("packages", n) {
		switch {
		case !packageRE.MatchString(it.val):
			hint := ""
			if strings.ContainsAny(it.val, "=/ ") {
				hint = "; versions and releases cannot be pinned here (the image takes the suite's current version)"
			}
			d.errorf(it.node, "%q is not a Debian package name (lower-case letters, digits, +, - and .)%s", it.val, hint)
		case seen[it.val] > 0:
			d.errorf(it.node, "package %q is already listed at line %d; remove one", it.val, seen[it.val])
		default:
			seen[it.val] = it.node.Line
			out = append(out, it.val)
		}
	}
	return out
}

func (d *decoder) users(n *yaml.Node) []User {
	r := resolve(n)
	if isNull(r) {
		return nil
	}
	if r.Kind != yaml.SequenceNode {
		d.errorf(n, "\"users\" must be a list of users like - {name: rocinante, uid: 1000}, got %s", describe(r))
		return nil
	}
	var out []User
	names, uids := map[string]int{}, map[int]int{}
	for _, item := range r.Content {
		m, ok := d.mapping(item, "a user", "{name: rocinante, uid: 1000}", userFields)
		if !ok {
			continue
		}
		u := User{Shell: DefaultShell}
		if p, ok := m["name"]; ok {
			if v, ok := d.str("name", p.val); ok {
				switch {
				case !userRE.MatchString(v):
					d.errorf(p.val, "user name %q must be lower-case letters, digits, _ and -, starting with a letter or _, at most 32 characters", v)
				case names[v] > 0:
					d.errorf(p.val, "user %q is already defined at line %d; remove one", v, names[v])
				default:
					names[v] = p.val.Line
					u.Name = v
				}
			}
		} else {
			d.errorf(item, "a user needs a \"name\"; add name: rocinante")
		}
		if p, ok := m["uid"]; ok {
			if v, ok := d.integer("uid", p.val); ok {
				switch {
				case v < minUID || v > maxUID:
					d.errorf(p.val, "\"uid\" must be between %d and %d (Debian's range for ordinary users), got %d", minUID, maxUID, v)
				case uids[v] > 0:
					d.errorf(p.val, "uid %d is already used at line %d; give each user its own", v, uids[v])
				default:
					uids[v] = p.val.Line
					u.UID = v
				}
			}
		} else {
			d.errorf(item, "a user needs a \"uid\" so that ownership is the same in every build; add uid: 1000")
		}
		if p, ok := m["shell"]; ok {
			if v, ok := d.str("shell", p.val); ok {
				if pathRE.MatchString(v) {
					u.Shell = v
				} else {
					d.errorf(p.val, "\"shell\" must be an absolute path like /bin/bash, got %q", v)
				}
			}
		}
		out = append(out, u)
	}
	return out
}

func (d *decoder) files(n *yaml.Node) []File {
	r := resolve(n)
	if isNull(r) {
		return nil
	}
	if r.Kind != yaml.SequenceNode {
		d.errorf(n, "\"files\" must be a list of files like - {path: /etc/motd, content: hello}, got %s", describe(r))
		return nil
	}
	var out []File
	paths := map[string]int{}
	for _, item := range r.Content {
		m, ok := d.mapping(item, "a file", "{path: /etc/motd, content: hello}", fileFields)
		if !ok {
			continue
		}
		f := File{Mode: DefaultMode}
		if p, ok := m["path"]; ok {
			if v, ok := d.str("path", p.val); ok {
				switch {
				case !pathRE.MatchString(v):
					d.errorf(p.val, "\"path\" must be an absolute path of letters, digits and ._+@- like /var/www/html/index.html, got %q", v)
				case path.Clean(v) != v:
					d.errorf(p.val, "\"path\" must be clean (no . or .. parts, no trailing /): write %s", path.Clean(v))
				case paths[v] > 0:
					d.errorf(p.val, "%s is already written at line %d; merge the two", v, paths[v])
				default:
					paths[v] = p.val.Line
					f.Path = v
				}
			}
		} else {
			d.errorf(item, "a file needs a \"path\"; add path: /absolute/path")
		}
		if p, ok := m["mode"]; ok {
			r := resolve(p.val)
			v, err := strconv.ParseUint(strings.TrimPrefix(r.Value, "0o"), 8, 32)
			if r.Kind != yaml.ScalarNode || isNull(r) || err != nil || v > 0o7777 {
				d.errorf(p.val, "\"mode\" must be octal permissions like \"0644\" or \"0755\", got %s", describe(r))
			} else {
				f.Mode = uint32(v)
			}
		}
		if p, ok := m["content"]; ok {
			r := resolve(p.val)
			if isNull(r) {
				f.Content = ""
			} else if v, ok := d.str("content", p.val); ok {
				f.Content = v
			}
		} else {
			d.errorf(item, "a file needs \"content\" (the text to write; use a | block for several lines)")
		}
		out = append(out, f)
	}
	return out
}

// Select loads the definitions called names from dir, or all of them when
// names is empty.
func Select(dir string, names []string) ([]*Definition, error) {
	if len(names) == 0 {
		return LoadDir(dir)
	}
	var out []*Definition
	for _, n := range names {
		def, err := Find(dir, n)
		if err != nil {
			return nil, err
		}
		out = append(out, def)
	}
	return out, nil
}
