package kbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/internal/digest"
)

// configInputs are what the final .config is made from, besides the tree.
type configInputs struct {
	// Base is tinyconfig, defconfig or an absolute .config path.
	Base string `json:"base"`
	// BaseSHA256 is the base file's hash when Base is a file.
	BaseSHA256 string         `json:"base_sha256,omitempty"`
	Fragments  []FragmentFile `json:"fragments"`
	parsed     []*kernel.Fragment
}

// readConfigInputs reads and parses the base and fragments, so a typo is
// reported before anything is fetched or built.
func readConfigInputs(spec Spec) (*configInputs, error) {
	in := &configInputs{Base: spec.Base}
	switch in.Base {
	case "":
		in.Base = DefaultBase
	case "tinyconfig", "defconfig":
	default:
		abs, err := filepath.Abs(in.Base)
		if err != nil {
			return nil, err
		}
		if in.BaseSHA256, err = digest.File(abs); err != nil {
			return nil, fmt.Errorf("%w: --base %s: %w (tinyconfig, defconfig or a .config file)", ErrSpec, spec.Base, err)
		}
		in.Base = abs
	}
	for _, f := range spec.Fragments {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%w: fragment: %w", ErrSpec, err)
		}
		frag, err := kernel.ParseFragment(filepath.Base(f), bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: fragment %w", ErrSpec, err)
		}
		abs, _ := filepath.Abs(f)
		in.parsed = append(in.parsed, frag)
		in.Fragments = append(in.Fragments, FragmentFile{Name: frag.Name, Path: abs, SHA256: shortHash(string(data))})
	}
	return in, nil
}

// hash identifies the inputs by content (fragment paths left out).
func (in *configInputs) hash() string {
	type frag struct{ Name, SHA256 string }
	k := struct {
		Base, BaseSHA256 string
		Fragments        []frag
	}{Base: in.Base, BaseSHA256: in.BaseSHA256}
	if in.BaseSHA256 != "" {
		k.Base = "file"
	}
	for _, f := range in.Fragments {
		k.Fragments = append(k.Fragments, frag{f.Name, f.SHA256})
	}
	b, _ := json.Marshal(k)
	return shortHash(string(b))
}

// slot names the configuration by its base and fragment names, not their
// contents: one build directory per tree and slot, so that editing a
// fragment rebuilds only what the changed options touch, while switching
// between fragment sets does not make each rebuild the other's objects.
func (in *configInputs) slot() string {
	parts := []string{in.Base}
	for _, f := range in.Fragments {
		parts = append(parts, f.Name)
	}
	return strings.Join(parts, "\x00")
}

// configure writes the build directory's .config: the base, the fragments
// merged onto it by the tree's merge_config.sh, then olddefconfig.
func configure(ctx context.Context, m *maker, in *configInputs) error {
	cfg := filepath.Join(m.build, ".config")
	if in.BaseSHA256 == "" {
		if err := m.make(ctx, "configuring", in.Base); err != nil {
			return err
		}
	} else {
		data, err := os.ReadFile(in.Base)
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg, data, 0o644); err != nil {
			return err
		}
	}
	if len(in.Fragments) > 0 {
		args := []string{"-m", "-O", m.build, cfg}
		for _, f := range in.Fragments {
			args = append(args, f.Path)
		}
		if err := m.run(ctx, "configuring", filepath.Join(m.tree, "scripts", "kconfig", "merge_config.sh"), args...); err != nil {
			return fmt.Errorf("merge_config.sh: %w", err)
		}
	}
	return m.make(ctx, "configuring", "olddefconfig")
}

// ConfigError lists the options the fragments ask for that the final
// .config does not have, each with its likely cause. Nothing was compiled.
type ConfigError struct {
	Problems []Problem
	// Config is the final .config; Log the configuration log.
	Config, Log string
}

// Problem is one option that did not survive olddefconfig.
type Problem struct {
	Fragment string
	kernel.Mismatch
	// Cause is the likely reason, from the tree's Kconfig files.
	Cause string
}

func (p Problem) String() string {
	var s string
	switch {
	case p.Got == "n":
		s = fmt.Sprintf("%s is not set (%s asks for %s)", p.Option, p.Fragment, p.Want)
	case p.Want == "n":
		s = fmt.Sprintf("%s=%s (%s asks for it not to be set)", p.Option, p.Got, p.Fragment)
	default:
		s = fmt.Sprintf("%s=%s (%s asks for %s)", p.Option, p.Got, p.Fragment, p.Want)
	}
	if p.Cause != "" {
		s += ": " + p.Cause
	}
	return s
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Config == "" {
		fmt.Fprintf(&b, "%d option(s) the fragments ask for are declared by no Kconfig file of this tree; nothing was configured or compiled:", len(e.Problems))
	} else {
		fmt.Fprintf(&b, "%d option(s) the fragments ask for are not in the final .config; nothing was compiled:", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	if e.Config == "" {
		fmt.Fprintf(&b, "\n(log: %s)", e.Log)
	} else {
		fmt.Fprintf(&b, "\n(final config: %s; log: %s)", e.Config, e.Log)
	}
	return b.String()
}

// undeclared finds, before anything is configured, the options the
// fragments ask to set that no Kconfig file of the tree declares: no
// configuration can set them (a TSEM fragment on a tree without
// security/tsem), so the build stops in seconds instead of after
// configuring.
func undeclared(k *kconfigs, in *configInputs) []Problem {
	var problems []Problem
	for _, f := range in.parsed {
		for _, opt := range f.Order {
			want := f.Options[opt]
			if want == "n" || len(k.index().defs[strings.TrimPrefix(opt, "CONFIG_")]) > 0 {
				continue
			}
			m := kernel.Mismatch{Option: opt, Want: want, Got: "n"}
			problems = append(problems, Problem{Fragment: f.Name, Mismatch: m, Cause: k.index().cause(k.tree, m, nil)})
		}
	}
	return problems
}

// kconfigs is a tree's Kconfig index, read once when first needed (the
// walk over every Kconfig file takes a second): the check before
// configuring and the verification after it share it.
type kconfigs struct {
	tree string
	idx  *kconfigIndex
}

func (k *kconfigs) index() *kconfigIndex {
	if k.idx == nil {
		k.idx = indexKconfig(k.tree)
	}
	return k.idx
}

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// verify checks that every option of every fragment has the requested
// value in the final .config at path, explaining each that has not from
// the tree's Kconfig files. It returns the parsed .config.
func verify(k *kconfigs, path string, in *configInputs) (*kernel.Fragment, verified, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, verified{}, fmt.Errorf("final config: %w", err)
	}
	cfg, err := kernel.ParseFragment(".config", bytes.NewReader(data))
	if err != nil {
		return nil, verified{}, fmt.Errorf("final config: %w", err)
	}
	var problems, foreign []Problem
	for _, f := range in.parsed {
		for _, m := range f.Mismatches(cfg) {
			sym := strings.TrimPrefix(m.Option, "CONFIG_")
			if arch, ok := k.index().otherArch(sym, BuildArch); ok {
				foreign = append(foreign, Problem{Fragment: f.Name, Mismatch: m, Cause: "declared only for " + arch})
				continue
			}
			problems = append(problems, Problem{Fragment: f.Name, Mismatch: m, Cause: k.index().cause(k.tree, m, cfg)})
		}
	}
	return cfg, verified{problems: problems, foreign: foreign}, nil
}

// verified is what verify found: problems stop the build; foreign options
// are declared only by another architecture's Kconfig (the kernel's own
// kvm_guest.config asks for CONFIG_S390_GUEST, say), so no x86 build can
// set them and they are set aside with a note, as make kvm_guest.config
// does silently.
type verified struct {
	problems, foreign []Problem
}
