package kernel

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Module is a loadable module file of a distribution kernel.
type Module struct {
	Name string // as the kernel names it: dashes become underscores
	Path string
}

// ModuleOrder returns the module files to load, dependencies first, so that
// every module in names (and what it depends on) loads. Names that are built
// into the kernel (listed in modules.builtin) or absent are returned in
// missing; a stock kernel may build in what another kernel makes a module.
func ModuleOrder(modulesDir string, names []string) (order []Module, missing []string, err error) {
	index := map[string]string{}
	err = filepath.WalkDir(modulesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			index[modName(filepath.Base(p))] = p
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("index modules in %s: %w", modulesDir, err)
	}
	seen := map[string]bool{}
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		if seen[name] {
			return nil
		}
		for _, c := range chain {
			if c == name {
				return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, name), " -> "))
			}
		}
		p, ok := index[name]
		if !ok {
			missing = append(missing, name)
			seen[name] = true
			return nil
		}
		deps, err := moduleDepends(p)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		seen[name] = true
		order = append(order, Module{Name: name, Path: p})
		return nil
	}
	for _, n := range names {
		if err := visit(modName(n), nil); err != nil {
			return nil, nil, err
		}
	}
	return order, missing, nil
}

func modName(s string) string {
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

// moduleDepends reads the "depends=" entry of a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s has no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, modName(d))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}
