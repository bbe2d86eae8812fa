package scenario

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/tsemlab/tsemlab/protocol"
)

// PlanOptions adapt a scenario to where it runs.
type PlanOptions struct {
	// TimeoutScale multiplies the scenario's timeouts (3 under TCG, say);
	// 0 or less means 1.
	TimeoutScale float64
	// Timeout, when non-zero, replaces the scenario's total timeout. It is
	// what the user asked for (`--timeout`) and is not scaled.
	Timeout time.Duration
	// Models holds the text of the model files the scenario loads, keyed
	// by the phases' load names, as ReadModels returns them. Plan ships
	// them to the guest in Plan.Files.
	Models map[string]string
}

func (o PlanOptions) scale(d time.Duration) time.Duration {
	f := o.TimeoutScale
	if !(f > 0) || math.IsInf(f, 0) {
		f = 1
	}
	v := float64(d) * f
	if v >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v)
}

// TotalTimeout is how long the whole scenario may take: o.Timeout if set,
// else the scenario's timeout scaled by o.TimeoutScale.
func (s *Scenario) TotalTimeout(o PlanOptions) time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return o.scale(s.Timeout)
}

// ReadModels reads the model files the scenario's phases load (TSEM.LoadFile)
// and returns their text keyed by load name, for PlanOptions.Models. It is
// the only part of planning that touches the file system, and it checks
// each file again as validation did (in the scenario's directory, no
// symbolic link out of it, a regular file of at most MaxModelSize bytes,
// a model), since files can change between validation and run.
func (s *Scenario) ReadModels() (map[string]string, error) {
	models := map[string]string{}
	for _, ph := range s.Phases {
		if ph.TSEM == nil || ph.TSEM.LoadFile == "" {
			continue
		}
		if _, done := models[ph.TSEM.Load]; done {
			continue
		}
		// The file may have changed since validation: check it again.
		text, err := s.readLoadFile(ph.TSEM.LoadFile)
		if err != nil {
			return nil, fmt.Errorf("read model for phase %s of %s: %w", ph.Name, s.File, err)
		}
		models[ph.TSEM.Load] = text
	}
	return models, nil
}

// readLoadFile reads a LoadFile with the checks validation made: under
// the scenario's directory, a regular file within MaxModelSize, a model.
func (s *Scenario) readLoadFile(file string) (string, error) {
	dir := s.Dir
	if dir == "" {
		dir = "."
	}
	rel, err := filepath.Rel(dir, file)
	if err != nil {
		return "", err
	}
	if _, msg := modelPath(rel); msg != "" {
		return "", errors.New(msg)
	}
	return readModel(dir, rel)
}

// Plan returns the plan the guest runs for s. It is pure: model file
// contents come from o.Models (see ReadModels).
//
// A phase's session is its own, else the scenario's. Its shell is its own,
// else the scenario's when the phase runs the scenario's session, else
// DefaultShell of its session. Its environment is the scenario's overlaid
// with its own, as sorted KEY=value strings. Its image is its own, else the
// scenario's. Steps are numbered from 1
// within each phase, and every step carries its timeout (its own, else the
// scenario's step_timeout), scaled.
func (s *Scenario) Plan(o PlanOptions) protocol.Plan {
	p := protocol.Plan{
		Version:  protocol.Version,
		Scenario: s.Name,
		Requires: protocol.Requires{
			LSM:      slices.Clone(s.Requires.LSM),
			Features: slices.Clone(s.Requires.Features),
		},
		Mode:        s.Mode,
		Image:       s.Image,
		StepTimeout: protocol.Duration(o.scale(s.stepTimeout())),
		Phases:      make([]protocol.Phase, 0, len(s.Phases)),
	}
	for _, ph := range s.Phases {
		pp := s.planPhase(ph, o)
		if t := ph.TSEM; t != nil && t.LoadFile != "" {
			if text, ok := o.Models[t.Load]; ok {
				if p.Files == nil {
					p.Files = map[string]string{}
				}
				p.Files[t.Load] = text
			}
		}
		p.Files = labFiles(ph, p.Files)
		p.Phases = append(p.Phases, pp)
	}
	return p
}

func (s *Scenario) stepTimeout() time.Duration {
	if s.StepTimeout > 0 {
		return s.StepTimeout
	}
	return DefaultStepTimeout
}

func (s *Scenario) planPhase(ph Phase, o PlanOptions) protocol.Phase {
	session := ph.Session
	if session == "" {
		session = s.Session
	}
	if session == "" {
		session = DefaultSession
	}
	shell := ph.Shell
	if shell == nil && session == s.sessionOrDefault() {
		shell = s.Shell
	}
	if shell == nil {
		shell = DefaultShell(session)
	}
	image := ph.Image
	if image == "" {
		image = s.Image
	}
	pp := protocol.Phase{
		Image:   image,
		Name:    ph.Name,
		Session: session,
		Shell:   slices.Clone(shell),
		Env:     envList(s.Env, ph.Env),
		Caps:    planCaps(ph.Caps),
		Setup:   slices.Clone(ph.Setup),
		Steps:   make([]protocol.Step, 0, len(ph.Steps)),
	}
	if t := ph.TSEM; t != nil {
		pp.TSEM = &protocol.TSEM{
			Model:      t.Model,
			Export:     t.Export,
			Load:       t.Load,
			Pseudonyms: slices.Clone(t.Pseudonyms),
			Backprop:   t.Backprop,
			Digest:     t.Digest,
			Cache:      t.Cache,
			NSRef:      t.NSRef,
		}
	}
	for i, st := range ph.Steps {
		timeout := st.Timeout
		if timeout <= 0 {
			timeout = s.stepTimeout()
		}
		pp.Steps = append(pp.Steps, planStepLabs(st, protocol.Step{
			Index:   i + 1,
			Name:    st.Name,
			Run:     st.Run,
			Caps:    planCaps(st.Caps),
			Timeout: protocol.Duration(o.scale(timeout)),
			HTTP:    planHTTP(st.HTTP),
		}))
	}
	planPhaseLabs(ph, &pp)
	return pp
}

func (s *Scenario) sessionOrDefault() protocol.Session {
	if s.Session == "" {
		return DefaultSession
	}
	return s.Session
}

func planHTTP(h *HTTP) *protocol.HTTPRequest {
	if h == nil {
		return nil
	}
	return &protocol.HTTPRequest{URL: h.URL}
}

func planCaps(c *Caps) *protocol.Caps {
	if c == nil {
		return nil
	}
	return &protocol.Caps{Drop: slices.Clone(c.Drop), Add: slices.Clone(c.Add)}
}

// envList merges base and over (over wins) into sorted KEY=value strings.
func envList(base, over map[string]string) []string {
	merged := map[string]string{}
	for k, v := range base {
		merged[k] = v
	}
	for k, v := range over {
		merged[k] = v
	}
	if len(merged) == 0 {
		return nil
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+merged[k])
	}
	return out
}

// Images are the workload images the scenario names, its own first, then
// its phases', each once.
func (s *Scenario) Images() []string {
	var names []string
	add := func(name string) {
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	add(s.Image)
	for _, ph := range s.Phases {
		add(ph.Image)
	}
	return names
}
