package scenario

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/internal/yamlcheck"
	"github.com/tsemlab/tsemlab/protocol"
)

// Fields each part of a scenario may have, in the order messages list them.
var (
	scenarioFields    = []string{"name", "description", "requires", "image", "mode", "timeout", "step_timeout", "session", "shell", "env", "kernel_args", "phases"}
	requiresFields    = []string{"lsm", "features"}
	phaseFields       = []string{"name", "description", "image", "session", "shell", "env", "caps", "setup", "tsem", "steps", "expect", "seccomp", "apparmor"}
	capsFields        = []string{"drop", "add"}
	tsemFields        = []string{"model", "export", "load", "pseudonyms", "backprop", "digest", "cache", "nsref"}
	stepFields        = []string{"name", "run", "http", "caps", "timeout", "expect", "namespaces", "chroot", "pivot_root", "user", "no_new_privileges", "apparmor"}
	stepExpectFields  = []string{"outcome", "exit_code", "stdout_contains", "stderr_contains", "output_contains", "stdout_not_contains", "stderr_not_contains", "output_not_contains"}
	phaseExpectFields = []string{"forensics_contains", "trajectory_contains", "forensics_count"}
	countFields       = []string{"min", "max"}
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	exportRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	wordRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	digestRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// Load reads and validates one scenario file. Its errors are
// ValidationErrors, or the context's error when ctx is cancelled.
func Load(ctx context.Context, path string) (*Scenario, error) {
	s, _, errs := load(ctx, path)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if errs != nil {
		return nil, errs
	}
	return s, nil
}

func load(ctx context.Context, file string) (*Scenario, *yaml.Node, ValidationErrors) {
	data, verr := readFile(file)
	if verr != nil {
		return nil, nil, ValidationErrors{verr}
	}
	return parse(ctx, file, data)
}

func readError(file string, err error) *ValidationError {
	msg := ""
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = "file does not exist; check the path"
	case errors.As(err, &pe):
		msg = "cannot read: " + pe.Err.Error()
		if st, serr := os.Stat(file); serr == nil && st.IsDir() {
			msg = "is a directory; name a .yaml file in it, or load the directory as a whole"
		}
	default:
		msg = "cannot read: " + err.Error()
	}
	return &ValidationError{File: file, Msg: msg}
}

// Parse validates the scenario in data. name is the file it came from: it
// prefixes error messages, and model files named by `load:` are looked up
// relative to its directory (the one I/O Parse does).
func Parse(name string, data []byte) (*Scenario, error) {
	s, _, errs := parse(context.Background(), name, data)
	if errs != nil {
		return nil, errs
	}
	return s, nil
}

// LoadAll loads every scenario a path names: a file, or a directory whose
// *.yaml and *.yml files (not its subdirectories) are loaded in name order.
// It gathers the errors of all files, and scenario names used twice across
// them, before returning; the scenarios that are valid are returned either
// way. When ctx is cancelled it stops and returns the context's error,
// wrapped, instead.
func LoadAll(ctx context.Context, paths []string) ([]*Scenario, error) {
	var (
		out   []*Scenario
		errs  ValidationErrors
		names = map[string]string{}
	)
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("interrupted: %w", err)
			}
			s, nameNode, ferrs := load(ctx, f)
			errs = append(errs, ferrs...)
			if s == nil {
				continue
			}
			if prev, dup := names[s.Name]; dup {
				e := &ValidationError{File: f, Msg: fmt.Sprintf("scenario name %q is also used by %s; names must be unique across a run (--only and results use them)", s.Name, prev)}
				if nameNode != nil {
					e.Line, e.Col = nameNode.Line, nameNode.Column
				}
				errs = append(errs, e)
				continue
			}
			names[s.Name] = f
			out = append(out, s)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// expand returns the scenario files path names.
func expand(p string) ([]string, *ValidationError) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, readError(p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, readError(p, err)
	}
	var files []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if (ext == ".yaml" || ext == ".yml") && !e.IsDir() {
			files = append(files, filepath.Join(p, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, &ValidationError{File: p, Msg: "directory holds no *.yaml or *.yml scenario files (subdirectories are not searched); name the files or their own directory"}
	}
	sort.Strings(files)
	return files, nil
}

// parse decodes and validates data, returning the scenario and the node
// of its name, or every error found.
func parse(ctx context.Context, file string, data []byte) (*Scenario, *yaml.Node, ValidationErrors) {
	d := &decoder{file: file}
	if len(data) > MaxFileSize {
		return nil, nil, ValidationErrors{tooBig(file, "scenario", int64(len(data)), MaxFileSize)}
	}
	if !d.checkText(data) {
		return nil, nil, d.result()
	}
	root := d.document(data)
	if root == nil || !d.checkExpansion(ctx, root) {
		return nil, nil, d.result()
	}
	s, nameNode := d.scenario(root)
	d.checkModeSession(s, root)
	if errs := d.result(); errs != nil {
		return nil, nil, errs
	}
	return s, nameNode, nil
}

// document parses data as exactly one YAML document and returns its root
// node, or nil after recording why not.
func (d *decoder) document(data []byte) *yaml.Node {
	root, errs := yamlcheck.Document(d.file, data, "a scenario", "name: and phases:")
	d.errs = append(d.errs, errs...)
	return root
}

// scenario decodes the top-level mapping.
func (d *decoder) scenario(root *yaml.Node) (*Scenario, *yaml.Node) {
	s := &Scenario{
		File:        d.file,
		Dir:         filepath.Dir(d.file),
		Mode:        DefaultMode,
		Timeout:     DefaultTimeout,
		StepTimeout: DefaultStepTimeout,
		Session:     DefaultSession,
	}
	m, ok := d.mapping(root, "a scenario", "{name: my-test, phases: [...]}", scenarioFields)
	if !ok {
		return s, nil
	}
	var nameNode *yaml.Node
	if p, ok := m["name"]; ok {
		s.Name = d.name("name", p.val)
		if msg := checkScenarioName(s.Name); msg != "" {
			d.errorf(p.val, "%s", msg)
			s.Name = ""
		}
		nameNode = p.val
	} else {
		d.lacks(root, "name", "scenario has no \"name\"; add a line like name: my-test")
	}
	if p, ok := m["description"]; ok {
		s.Description, _ = d.str("description", p.val)
	}
	if p, ok := m["requires"]; ok {
		s.Requires = d.requires(p.val)
	}
	_, hasImage := m["image"]
	if p, ok := m["image"]; ok {
		s.Image = d.image(p.val)
	}
	if p, ok := m["mode"]; ok {
		if v, ok := d.enum("mode", p.val, string(protocol.ModeProcess), string(protocol.ModeContainer)); ok {
			s.Mode = protocol.Mode(v)
			if s.Mode == protocol.ModeContainer && !hasImage {
				d.errorf(p.val, "mode: container needs an image to build the container from; add a line like image: debian-minimal")
			}
		}
	}
	if p, ok := m["timeout"]; ok {
		s.Timeout = d.duration("timeout", p.val)
	}
	if p, ok := m["step_timeout"]; ok {
		s.StepTimeout = d.duration("step_timeout", p.val)
	}
	if p, ok := m["session"]; ok {
		if v, ok := d.enum("session", p.val, string(protocol.SessionExec), string(protocol.SessionShell)); ok {
			s.Session = protocol.Session(v)
		}
	}
	if p, ok := m["shell"]; ok {
		s.Shell = d.argv("shell", p.val)
	}
	if p, ok := m["env"]; ok {
		s.Env = d.strMap("env", p.val, checkEnvKey)
	}
	s.KernelArgs = d.kernelArgs(m)
	d.phases(root, m, s)
	return s, nameNode
}

// phases decodes the scenario's list of phases into s.Phases and checks
// what spans phases: unique names and exports, loads, requires: tsem.
func (d *decoder) phases(root *yaml.Node, m map[string]pair, s *Scenario) {
	p, ok := m["phases"]
	if !ok {
		d.lacks(root, "phases", "scenario has no \"phases\"; add phases: with at least one phase like - {name: main, steps: [{run: true}]}")
		return
	}
	r := resolve(p.val)
	if isNull(r) || (r.Kind == yaml.SequenceNode && len(r.Content) == 0) {
		d.errorf(p.key, "\"phases\" is empty; add at least one phase like - {name: main, steps: [{run: true}]}")
		return
	}
	if r.Kind != yaml.SequenceNode {
		d.errorf(p.val, "\"phases\" must be a list of phases (lines starting with -), got %s", describe(r))
		return
	}
	var tsemNodes []*yaml.Node
	phaseLines := map[string]int{}
	exports := map[string]exportSite{}
	for i, n := range r.Content {
		ph, tsemNode, nameNode := d.phase(n, s)
		if ph.Name != "" {
			if line, dup := phaseLines[ph.Name]; dup {
				d.errorf(nameNode, "phase name %q is already used at line %d; phase names must be unique within a scenario", ph.Name, line)
			} else {
				phaseLines[ph.Name] = nameNode.Line
			}
		}
		if ph.TSEM != nil && ph.TSEM.Export != "" {
			if prev, dup := exports[ph.TSEM.Export]; dup {
				d.errorf(tsemNode, "export %q is already written by the phase at line %d; give each export its own name", ph.TSEM.Export, prev.line)
			} else {
				exports[ph.TSEM.Export] = exportSite{index: i, line: resolve(n).Line}
			}
		}
		tsemNodes = append(tsemNodes, tsemNode)
		s.Phases = append(s.Phases, ph)
	}
	d.resolveReferences(s, r.Content, exports)
	for i, ph := range s.Phases {
		if ph.TSEM != nil && !slices.Contains(s.Requires.LSM, "tsem") {
			d.errorf(tsemNodes[i], "phase %q uses tsem but the scenario does not require it; add requires: {lsm: [tsem]} so that kernels without TSEM skip the scenario instead of failing it", ph.Name)
			break
		}
	}
}

// image decodes image:, which must name an image tsemlab can build.
func (d *decoder) image(n *yaml.Node) string {
	v, ok := d.str("image", n)
	if !ok {
		return ""
	}
	if !slices.Contains(Images, v) {
		d.errorf(n, "\"image\" %q is not an image tsemlab can build%s (images: %s)", v, didYouMean(v, Images), strings.Join(Images, ", "))
		return ""
	}
	return v
}

// exportSite is where a model export is declared.
type exportSite struct{ index, line int }

// resolveLoads checks that each phase's load names an earlier export (a
// learn phase's, or the PHASE.backprop.model of a backprop phase) or a
// model file the scenario may load (see modelPath and readModel), and
// records the file's path in LoadFile.
func (d *decoder) resolveLoads(s *Scenario, nodes []*yaml.Node, exports map[string]exportSite) {
	addBackpropExports(s, nodes, exports)
	for i := range s.Phases {
		t := s.Phases[i].TSEM
		if t == nil || t.Load == "" {
			continue
		}
		loadNode := d.loadNode(nodes[i])
		if site, ok := exports[t.Load]; ok {
			if site.index < i {
				continue
			}
			if site.index > i {
				d.errorf(loadNode, "model %q is exported only later, by the phase at line %d; move this phase after that one", t.Load, site.line)
				continue
			}
		}
		rel, msg := modelPath(t.Load)
		if msg != "" {
			d.errorf(loadNode, "\"load\": %s", msg)
			continue
		}
		file := filepath.Join(s.Dir, rel)
		if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
			var names []string
			for name := range exports {
				names = append(names, name)
			}
			sort.Strings(names)
			hint := didYouMean(t.Load, names)
			if hint == "" {
				hint = fmt.Sprintf("; export it from an earlier phase (tsem: {model: learn, export: %s}) or give the path of a model file relative to the scenario file", path.Base(filepath.ToSlash(excerpt(t.Load, 60))))
			}
			d.errorf(loadNode, "\"load\": no earlier phase exports %q and there is no model file %s%s", excerpt(t.Load, 60), excerpt(file, 200), hint)
			continue
		}
		if _, err := readModel(s.Dir, rel); err != nil {
			d.errorf(loadNode, "\"load\": %v", err)
			continue
		}
		t.LoadFile = file
	}
}

// loadNode finds the value of tsem.load in a phase node, for positions.
func (d *decoder) loadNode(phase *yaml.Node) *yaml.Node {
	t := child(resolve(phase), "tsem")
	if t == nil {
		return phase
	}
	if l := child(resolve(t), "load"); l != nil {
		return l
	}
	return t
}

// child returns the value of key in mapping n (explicit keys only), or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// name decodes a scenario or phase name.
func (d *decoder) name(key string, n *yaml.Node) string {
	v, ok := d.str(key, n)
	if !ok {
		return ""
	}
	if msg := checkNameLen(key, v); msg != "" {
		d.errorf(n, "%s", msg)
		return ""
	}
	if !nameRE.MatchString(v) {
		// %+q: a look-alike letter (Cyrillic "е") shows as \u0435.
		d.errorf(n, "%q must be lower-case letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit, got %+q%s", key, v, suggestName(v))
		return ""
	}
	return v
}

// suggestName offers a valid spelling of a bad name, when there is one.
func suggestName(v string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(v) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '/':
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), "._-")
	if s == "" || !nameRE.MatchString(s) {
		return ""
	}
	return fmt.Sprintf(" (try %q)", s)
}

func checkEnvKey(k string) string {
	if envKeyRE.MatchString(k) {
		return ""
	}
	return fmt.Sprintf("environment variable name %q must be letters, digits and _, not starting with a digit", k)
}

func (d *decoder) requires(n *yaml.Node) Requires {
	var r Requires
	if isNull(resolve(n)) {
		return r
	}
	m, ok := d.mapping(n, "\"requires\"", "{lsm: [tsem], features: [seccomp]}", requiresFields)
	if !ok {
		return r
	}
	words := func(key, what string, known []string) []string {
		p, ok := m[key]
		if !ok {
			return nil
		}
		var out []string
		for _, it := range d.strItems(key, p.val) {
			w := strings.ToLower(strings.TrimSpace(it.val))
			if !wordRE.MatchString(w) {
				d.errorf(it.node, "%q lists %q, which is not %s name (lower-case letters, digits and _, like %s)", key, it.val, what, map[string]string{"lsm": "tsem", "features": "seccomp"}[key])
				continue
			}
			if !slices.Contains(known, w) {
				// A misspelt requirement is never met: the scenario
				// would be skipped on every kernel.
				d.errorf(it.node, "%q lists %q, which is not %s tsemlab knows%s (known: %s)", key, it.val, what, didYouMean(w, known), strings.Join(known, ", "))
				continue
			}
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
		return out
	}
	r.LSM = words("lsm", "a security module", protocol.KnownLSMs)
	r.Features = words("features", "a kernel feature", protocol.KnownFeatures)
	return r
}

// phase decodes one phase; it also returns the nodes of its tsem section
// and name (or the phase itself when absent) for later checks.
func (d *decoder) phase(n *yaml.Node, s *Scenario) (Phase, *yaml.Node, *yaml.Node) {
	var ph Phase
	m, ok := d.mapping(n, "a phase", "{name: main, steps: [{run: true}]}", phaseFields)
	if !ok {
		return ph, n, n
	}
	nameNode := n
	if p, ok := m["name"]; ok {
		ph.Name = d.name("name", p.val)
		nameNode = p.val
	} else {
		d.lacks(n, "name", "phase has no \"name\"; add a line like name: learn")
	}
	if p, ok := m["description"]; ok {
		ph.Description, _ = d.str("description", p.val)
	}
	if p, ok := m["image"]; ok {
		ph.Image = d.image(p.val)
	}
	session := s.Session
	if p, ok := m["session"]; ok {
		if v, ok := d.enum("session", p.val, string(protocol.SessionExec), string(protocol.SessionShell)); ok {
			ph.Session, session = protocol.Session(v), protocol.Session(v)
		}
	}
	if p, ok := m["shell"]; ok {
		ph.Shell = d.argv("shell", p.val)
	}
	if p, ok := m["env"]; ok {
		ph.Env = d.strMap("env", p.val, checkEnvKey)
	}
	if p, ok := m["caps"]; ok {
		ph.Caps = d.caps(p.val)
	}
	if p, ok := m["setup"]; ok {
		for _, it := range d.strItems("setup", p.val) {
			if strings.TrimSpace(it.val) == "" {
				d.errorf(it.node, "a \"setup\" command is empty; remove it or write the command")
				continue
			}
			ph.Setup = append(ph.Setup, it.val)
		}
	}
	tsemNode := n
	if p, ok := m["tsem"]; ok {
		ph.TSEM = d.tsem(p.val)
		tsemNode = p.key
	}
	if p, ok := m["expect"]; ok {
		ph.Expect = d.phaseExpect(p.val, ph.TSEM != nil)
	}
	d.phaseLabs(m, &ph, session)
	p, ok := m["steps"]
	if !ok {
		d.lacks(n, "steps", "phase %q has no \"steps\"; add steps: with at least one step like - run: true", ph.Name)
		return ph, tsemNode, nameNode
	}
	r := resolve(p.val)
	switch {
	case isNull(r) || (r.Kind == yaml.SequenceNode && len(r.Content) == 0):
		d.errorf(p.key, "\"steps\" is empty; add at least one step like - run: true")
	case r.Kind != yaml.SequenceNode:
		d.errorf(p.val, "\"steps\" must be a list of steps (lines starting with -), got %s", describe(r))
	default:
		for _, sn := range r.Content {
			ph.Steps = append(ph.Steps, d.step(sn, session))
		}
	}
	return ph, tsemNode, nameNode
}

func (d *decoder) caps(n *yaml.Node) *Caps {
	m, ok := d.mapping(n, "\"caps\"", "{drop: [CAP_CHOWN], add: [...]}", capsFields)
	if !ok {
		return nil
	}
	var c Caps
	list := func(key string) []string {
		p, ok := m[key]
		if !ok {
			return nil
		}
		var out []string
		for _, it := range d.strItems(key, p.val) {
			v, err := normalizeCap(it.val)
			if err != nil {
				d.errorf(it.node, "%s", err)
				continue
			}
			out = append(out, v)
		}
		return out
	}
	c.Drop = list("drop")
	c.Add = list("add")
	if len(c.Drop) == 0 && len(c.Add) == 0 {
		return nil
	}
	return &c
}

func (d *decoder) tsem(n *yaml.Node) *TSEM {
	m, ok := d.mapping(n, "\"tsem\"", "{model: learn, export: my.model}", tsemFields)
	if !ok {
		return nil
	}
	t := &TSEM{}
	if p, ok := m["model"]; ok {
		v, _ := d.enum("model", p.val, string(protocol.ModelLearn), string(protocol.ModelEnforce), string(protocol.ModelSeal))
		t.Model = protocol.ModelMode(v)
	} else {
		d.lacks(n, "model", "tsem has no \"model\"; add model: learn, enforce or seal")
	}
	if p, ok := m["export"]; ok {
		t.Export = d.export(p, t.Model)
	}
	if p, ok := m["load"]; ok {
		if v, ok := d.str("load", p.val); ok {
			switch {
			case strings.TrimSpace(v) == "":
				d.errorf(p.val, "\"load\" is empty; name an earlier phase's export or a model file")
			case t.Model == protocol.ModelLearn:
				d.errorf(p.key, "\"load\" is only for model: enforce or seal; a learn phase starts from an empty model (remove load, or change the model)")
			default:
				t.Load = v
			}
		}
	} else if t.Model == protocol.ModelEnforce || t.Model == protocol.ModelSeal {
		d.errorf(n, "tsem with model: %s needs \"load\": the export of an earlier learn phase (load: my.model) or the path of a model file", t.Model)
	}
	if p, ok := m["pseudonyms"]; ok {
		for _, it := range d.strItems("pseudonyms", p.val) {
			if !strings.HasPrefix(it.val, "/") {
				d.errorf(it.node, "pseudonym %q must be an absolute path like /root/.bash_history", it.val)
				continue
			}
			t.Pseudonyms = append(t.Pseudonyms, it.val)
		}
	}
	if p, ok := m["backprop"]; ok {
		t.Backprop = d.boolean("backprop", p.val)
		if t.Backprop && t.Model == protocol.ModelLearn {
			d.errorf(p.key, "\"backprop\" is only for model: enforce or seal; remove it from this learn phase")
		}
	}
	if p, ok := m["digest"]; ok {
		if v, ok := d.str("digest", p.val); ok {
			if !digestRE.MatchString(v) {
				d.errorf(p.val, "\"digest\" must be a kernel hash name like sha256, got %q", v)
			} else {
				t.Digest = v
			}
		}
	}
	if p, ok := m["cache"]; ok {
		if v, ok := d.integer("cache", p.val); ok {
			if v < 0 {
				d.errorf(p.val, "\"cache\" must be 0 or more, got %d", v)
			} else {
				t.Cache = v
			}
		}
	}
	if p, ok := m["nsref"]; ok {
		t.NSRef, _ = d.enum("nsref", p.val, "initial", "current")
	}
	return t
}

// export decodes a learn phase's export:, the name of a file in the
// results directory.
func (d *decoder) export(p pair, model protocol.ModelMode) string {
	v, ok := d.str("export", p.val)
	if !ok {
		return ""
	}
	switch {
	case checkNameLen("export", v) != "":
		d.errorf(p.val, "%s", checkNameLen("export", v))
	case !exportRE.MatchString(v):
		d.errorf(p.val, "\"export\" is a file name for the model and must be letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit, got %q", v)
	case checkArtifactName(v) != "":
		d.errorf(p.val, "\"export\" %s", checkArtifactName(v))
	case model != "" && model != protocol.ModelLearn:
		d.errorf(p.key, "\"export\" is only for model: learn (it names where the learned model goes); remove it, or set model: learn")
	default:
		return v
	}
	return ""
}

func (d *decoder) step(n *yaml.Node, session protocol.Session) Step {
	st := Step{Expect: StepExpect{Outcome: protocol.OutcomeAllow}}
	if r := resolve(n); r.Kind == yaml.ScalarNode && !isNull(r) {
		d.errorf(n, "a step must be a mapping like {run: ls}, got %s; write - run: %s", describe(r), r.Value)
		return st
	}
	m, ok := d.mapping(n, "a step", "{run: ls}", stepFields)
	if !ok {
		return st
	}
	if p, ok := m["name"]; ok {
		st.Name, _ = d.str("name", p.val)
	}
	if p, ok := m["run"]; ok {
		if v, ok := d.str("run", p.val); ok {
			if strings.TrimSpace(v) == "" {
				d.errorf(p.val, "\"run\" is empty; write the command the step runs")
			}
			st.Run = v
		}
	} else if _, ok := m["http"]; !ok {
		d.lacks(n, "run", "step has no \"run\"; add the command, like run: ls /")
	}
	if p, ok := m["http"]; ok {
		d.httpStep(&st, m, p)
	}
	if p, ok := m["caps"]; ok {
		if session == protocol.SessionShell {
			d.errorf(p.key, "\"caps\" on a step needs session: exec; in a shell session every step runs in the same shell, so put caps on the phase instead (or set session: exec)")
		} else {
			st.Caps = d.caps(p.val)
		}
	}
	if p, ok := m["timeout"]; ok {
		st.Timeout = d.duration("timeout", p.val)
	}
	if p, ok := m["expect"]; ok {
		st.Expect = d.stepExpect(p.val)
	}
	d.stepLabs(m, &st, session)
	return st
}

func (d *decoder) stepExpect(n *yaml.Node) StepExpect {
	e := StepExpect{Outcome: protocol.OutcomeAllow}
	if isNull(resolve(n)) {
		return e
	}
	m, ok := d.mapping(n, "\"expect\"", "{outcome: deny}", stepExpectFields)
	if !ok {
		return e
	}
	var outcomeNode *yaml.Node
	if p, ok := m["outcome"]; ok {
		choices := make([]string, len(protocol.Outcomes))
		for i, o := range protocol.Outcomes {
			choices[i] = string(o)
		}
		if v, ok := d.enum("outcome", p.val, choices...); ok {
			e.Outcome = protocol.Outcome(v)
			outcomeNode = p.val
		}
	}
	if p, ok := m["exit_code"]; ok {
		if v, ok := d.integer("exit_code", p.val); ok {
			switch {
			case v < 0 || v > 255:
				d.errorf(p.val, "\"exit_code\" must be 0 to 255, got %d", v)
			case v != 0 && (e.Outcome == protocol.OutcomeAllow || e.Outcome == protocol.OutcomeViolation):
				d.errorf(p.val, "exit_code %d contradicts outcome: %s, which means the step exited 0; set outcome: error (or deny)", v, e.Outcome)
			case v == 0 && e.Outcome == protocol.OutcomeError && outcomeNode != nil:
				d.errorf(p.val, "exit_code 0 contradicts outcome: error, which means the step exited non-zero; remove one of them")
			default:
				e.ExitCode = &v
			}
		}
	}
	text := func(key string) []string {
		p, ok := m[key]
		if !ok {
			return nil
		}
		items := d.strItems(key, p.val)
		out := make([]string, 0, len(items))
		for _, it := range items {
			if it.val == "" {
				d.errorf(it.node, "%q has an empty string, which every output contains; remove it", key)
				continue
			}
			out = append(out, it.val)
		}
		return out
	}
	e.StdoutContains = text("stdout_contains")
	e.StderrContains = text("stderr_contains")
	e.OutputContains = text("output_contains")
	e.StdoutNotContains = text("stdout_not_contains")
	e.StderrNotContains = text("stderr_not_contains")
	e.OutputNotContains = text("output_not_contains")
	return e
}

func (d *decoder) phaseExpect(n *yaml.Node, hasTSEM bool) PhaseExpect {
	var e PhaseExpect
	if isNull(resolve(n)) {
		return e
	}
	m, ok := d.mapping(n, "a phase's \"expect\"", "{forensics_count: 0}", phaseExpectFields)
	if !ok {
		return e
	}
	for _, key := range phaseExpectFields {
		if p, ok := m[key]; ok && !hasTSEM {
			d.errorf(p.key, "%q needs a tsem: section in this phase, since TSEM records the events; add tsem: or remove it", key)
		}
	}
	if p, ok := m["forensics_contains"]; ok {
		e.ForensicsContains = d.events("forensics_contains", p.val)
	}
	if p, ok := m["trajectory_contains"]; ok {
		e.TrajectoryContains = d.events("trajectory_contains", p.val)
	}
	if p, ok := m["forensics_count"]; ok {
		e.ForensicsCount = d.count("forensics_count", p.val)
	}
	return e
}

func (d *decoder) events(key string, n *yaml.Node) []EventMatch {
	r := resolve(n)
	if r.Kind != yaml.SequenceNode {
		d.errorf(n, "%q must be a list of event fields like [{type: file_open, pathname: /etc/passwd}], got %s", key, describe(r))
		return nil
	}
	var out []EventMatch
	for _, item := range r.Content {
		ri := resolve(item)
		if ri.Kind != yaml.MappingNode {
			d.errorf(item, "each item of %q must be a mapping of event fields like {type: file_open}, got %s", key, describe(ri))
			continue
		}
		m := d.strMap(key, item, func(k string) string {
			if strings.TrimSpace(k) == "" {
				return fmt.Sprintf("an event field name in %q is empty", key)
			}
			return ""
		})
		if len(m) == 0 {
			d.errorf(item, "an item of %q is empty and would match any event; list the fields to match, like {type: file_open}", key)
			continue
		}
		for k, v := range m {
			if _, err := path.Match(v, ""); event.IsPattern(v) && err != nil {
				d.errorf(item, "%s: %q is not a valid pattern (%v); * ? and [...] are shell pattern characters, [ must be closed", k, v, err)
			}
		}
		out = append(out, EventMatch(m))
	}
	return out
}

func (d *decoder) count(key string, n *yaml.Node) *Count {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode {
		v, ok := d.integer(key, n)
		if !ok {
			return nil
		}
		if v < 0 {
			d.errorf(n, "%q must be 0 or more, got %d", key, v)
			return nil
		}
		return &Count{Min: v, Max: &v}
	}
	m, ok := d.mapping(n, fmt.Sprintf("%q", key), "{min: 1, max: 3} or a number", countFields)
	if !ok {
		return nil
	}
	c := &Count{}
	bad := false
	for _, k := range countFields {
		p, ok := m[k]
		if !ok {
			continue
		}
		v, ok := d.integer(k, p.val)
		if !ok {
			bad = true
			continue
		}
		if v < 0 {
			d.errorf(p.val, "%q must be 0 or more, got %d", k, v)
			bad = true
			continue
		}
		if k == "min" {
			c.Min = v
		} else {
			c.Max = &v
		}
	}
	if len(m) == 0 {
		d.errorf(n, "%q needs min:, max: or both, or a plain number", key)
		return nil
	}
	if bad {
		return nil
	}
	if c.Max != nil && *c.Max < c.Min {
		d.errorf(n, "%q has min %d above max %d; swap them", key, c.Min, *c.Max)
		return nil
	}
	return c
}
