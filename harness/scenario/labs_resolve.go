package scenario

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/tsemlab/tsemlab/protocol"
	"github.com/tsemlab/tsemlab/seccomp"
)

// resolveReferences checks what phases refer to: TSEM models to load,
// then the labs' profiles.
func (d *decoder) resolveReferences(s *Scenario, nodes []*yaml.Node, exports map[string]exportSite) {
	d.resolveLoads(s, nodes, exports)
	d.resolveLabs(s, nodes, exports)
}

// resolveLabs checks what the labs' sections refer to across phases and
// files: seccomp profiles (an earlier export or a valid profile file),
// AppArmor profile files, and options that cannot go together.
func (d *decoder) resolveLabs(s *Scenario, nodes []*yaml.Node, tsemExports map[string]exportSite) {
	exports := map[string]int{}
	usesAppArmor := false
	for i := range s.Phases {
		ph := &s.Phases[i]
		n := resolve(nodes[i])
		if sc := ph.Seccomp; sc != nil {
			d.resolveSeccomp(s, i, sc, n, exports, tsemExports)
		}
		if ph.AppArmor != nil {
			usesAppArmor = true
			d.readAppArmor(s, ph.AppArmor, child(n, "apparmor"))
		}
		for j := range ph.Steps {
			st := &ph.Steps[j]
			sn := stepNode(n, j)
			d.stepCombination(ph, st, sn)
			if st.AppArmor != nil {
				usesAppArmor = true
				d.readAppArmor(s, st.AppArmor, child(sn, "apparmor"))
			}
		}
	}
	if usesAppArmor && !slices.Contains(s.Requires.LSM, "apparmor") {
		d.errorf(nodes[0], "the scenario confines steps with AppArmor but does not require it; add requires: {lsm: [apparmor]} so that kernels without AppArmor skip the scenario instead of failing it")
	}
}

func (d *decoder) resolveSeccomp(s *Scenario, i int, sc *Seccomp, n *yaml.Node, exports map[string]int, tsemExports map[string]exportSite) {
	sn := child(n, "seccomp")
	if sc.Export != "" {
		_, tsemDup := tsemExports[sc.Export]
		if line, dup := exports[sc.Export]; dup || tsemDup {
			if !dup {
				line = tsemExports[sc.Export].line
			}
			d.errorf(valueNode(sn, "export"), "export %q is already written by the phase at line %d; give each export its own name", sc.Export, line)
		} else {
			exports[sc.Export] = n.Line
		}
	}
	if sc.Mode == protocol.SeccompLearn {
		if ph := s.Phases[i]; ph.Caps != nil || ph.AppArmor != nil {
			d.errorf(sn, "a seccomp learn phase records its steps as they run unwrapped; move caps and apparmor to another phase")
		}
	}
	if sc.Mode != protocol.SeccompEnforce || sc.Profile == "" {
		return
	}
	pn := valueNode(sn, "profile")
	if _, ok := exports[sc.Profile]; ok {
		return
	}
	file := d.labFile(s, sc.Profile)
	data, err := readLabFile(file)
	if err != nil {
		d.errorf(pn, "\"profile\": no earlier seccomp learn phase exports %q and %s; export it from an earlier phase (seccomp: {mode: learn, export: %s}) or give the path of a profile file relative to the scenario file", sc.Profile, err, filepath.Base(sc.Profile))
		return
	}
	if _, err := seccomp.Parse(data); err != nil {
		d.errorf(pn, "seccomp profile %s is not valid (its errors follow)", file)
		var es seccomp.Errors
		errors.As(err, &es)
		for _, e := range es {
			d.errs = append(d.errs, &ValidationError{File: file, Line: e.Line, Col: e.Col, Msg: e.Msg})
		}
		return
	}
	sc.ProfileFile, sc.ProfileText = file, string(data)
}

// stepCombination rejects step options that cannot work where the step is.
func (d *decoder) stepCombination(ph *Phase, st *Step, n *yaml.Node) {
	wraps := len(st.Namespaces) > 0 || st.Chroot != "" || st.PivotRoot != "" || st.User != "" || st.NoNewPrivileges || st.AppArmor != nil
	switch {
	case !wraps:
	case ph.TSEM != nil:
		d.errorf(n, "namespaces, chroot, pivot_root, user, no_new_privileges and apparmor are not available in tsem phases yet; put the step in a phase without tsem")
	case ph.Seccomp != nil && ph.Seccomp.Mode == protocol.SeccompLearn:
		d.errorf(n, "a seccomp learn phase records its steps as they run unwrapped; namespaces, chroot, pivot_root, user, no_new_privileges and apparmor go in another phase")
	}
	if st.Caps != nil && ph.Seccomp != nil && ph.Seccomp.Mode == protocol.SeccompLearn {
		d.errorf(child(n, "caps"), "a seccomp learn phase records its steps as they run unwrapped; move caps to another phase")
	}
}

// readAppArmor reads an AppArmor profile file and finds the profile the
// steps are confined to.
func (d *decoder) readAppArmor(s *Scenario, a *AppArmor, n *yaml.Node) {
	if a.Profile == "" {
		return
	}
	pn := valueNode(n, "profile")
	file := d.labFile(s, a.Profile)
	data, err := readLabFile(file)
	if err != nil {
		d.errorf(pn, "\"profile\": %s; give the path of an AppArmor profile file relative to the scenario file", err)
		return
	}
	a.File, a.Text = file, string(data)
	var names []string
	for _, m := range profileNameRE.FindAllStringSubmatch(a.Text, -1) {
		name := m[1] + m[2]
		if uq, err := strconv.Unquote(name); err == nil {
			name = uq
		}
		names = append(names, name)
	}
	switch {
	case len(names) == 0:
		d.errorf(pn, "%s defines no AppArmor profile (a line like profile appone flags=(attach_disconnected) {); check the file", file)
	case a.Name == "":
		a.Name = names[0]
	case !slices.Contains(names, a.Name):
		d.errorf(valueNode(n, "name"), "%s defines no profile %q (it defines %v)", file, a.Name, names)
	}
}

func (d *decoder) labFile(s *Scenario, name string) string {
	file := filepath.FromSlash(name)
	if !filepath.IsAbs(file) {
		file = filepath.Join(s.Dir, file)
	}
	return file
}

// readLabFile reads a profile file of at most maxLabFile bytes.
func readLabFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("there is no file %s", file)
		}
		return nil, fmt.Errorf("cannot read %s: %w", file, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLabFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", file, err)
	}
	if len(data) > maxLabFile {
		return nil, fmt.Errorf("%s is larger than %d KiB", file, maxLabFile>>10)
	}
	return data, nil
}

// stepNode returns the node of step j of a phase node (the phase itself
// when it cannot be found), for positions.
func stepNode(phase *yaml.Node, j int) *yaml.Node {
	steps := child(phase, "steps")
	if steps == nil {
		return phase
	}
	r := resolve(steps)
	if r.Kind != yaml.SequenceNode || j >= len(r.Content) {
		return phase
	}
	return resolve(r.Content[j])
}

// valueNode returns the value of key in mapping n, or n (or nil).
func valueNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if v := child(resolve(n), key); v != nil {
		return v
	}
	return n
}
