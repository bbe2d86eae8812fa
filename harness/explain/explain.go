package explain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/protocol"
)

// Options change how a scenario is explained.
type Options struct {
	// Learned names the phase whose trajectory is the learned model of
	// every phase explained, instead of finding it from plan.json.
	Learned string
}

// Report explains the forensic events of one scenario's results.
type Report struct {
	// Scenario is the scenario's name; Dir its results directory.
	Scenario, Dir string
	// Notes are facts about the directory worth saying once (no
	// plan.json, a missing trajectory).
	Notes []string
	// Phases are the phases that recorded forensic events, in run order.
	Phases []Phase
}

// Phase is one phase's forensic events, each with its nearest model event.
type Phase struct {
	Name string
	// Source says which learn phase's trajectory is this phase's model.
	Source Source
	// Learned is that trajectory; Own the phase's own trajectory (the
	// events it recorded before sealing, valid points as well).
	Learned, Own []Record
	Events       []Explained
}

// Explained is one forensic event and the nearest event of its model.
type Explained struct {
	Forensic Record
	// Found is false when the model has no event of the forensic event's
	// hook; Nearest and Match are then zero.
	Found   bool
	Nearest Record
	Match   event.Match
}

// Scenario explains every phase of the scenario results directory dir
// that recorded forensic events (a non-empty <phase>.forensics). The
// phases and what each loaded come from dir/plan.json; without one (a
// directory of bare model0 files) a phase with forensics is compared with
// the one phase that has a trajectory and no forensics, or opt.Learned.
func Scenario(dir string, opt Options) (*Report, error) {
	if opt.Learned != "" && !validName(opt.Learned) {
		return nil, fmt.Errorf("learned phase %q is not a phase name", opt.Learned)
	}
	plan, havePlan, err := readPlan(dir)
	if err != nil {
		return nil, err
	}
	r := &Report{Scenario: plan.Scenario, Dir: dir}
	if r.Scenario == "" {
		r.Scenario = filepath.Base(filepath.Clean(dir))
	}

	var phases []string
	source := func(name string) Source { return Learned(plan, name) }
	if havePlan {
		for _, ph := range plan.Phases {
			phases = append(phases, ph.Name)
		}
		r.Notes = append(r.Notes, unfinished(dir, plan)...)
	} else {
		var guess Source
		phases, guess, err = phasesFromFiles(dir)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, "no plan.json: phases found from the file names")
		if len(phases) == 0 {
			r.Notes = append(r.Notes, "no <phase>.forensics file holds a record")
		}
		source = func(string) Source { return guess }
	}
	if opt.Learned != "" {
		source = func(string) Source { return Source{Phase: opt.Learned, Why: "named on the command line"} }
	}

	for _, name := range phases {
		forensics, _, err := readRecords(dir, name+".forensics")
		if err != nil {
			return nil, err
		}
		if len(forensics) == 0 {
			continue
		}
		ph := Phase{Name: name, Source: source(name)}
		if ph.Source.Phase != "" {
			var ok bool
			ph.Learned, ok, err = readRecords(dir, ph.Source.Phase+".trajectory")
			if err != nil {
				return nil, err
			}
			if !ok {
				r.Notes = append(r.Notes, fmt.Sprintf("%s.trajectory is missing: phase %s's learned events are not at hand", ph.Source.Phase, name))
			}
		}
		if ph.Source.Phase != name {
			if ph.Own, _, err = readRecords(dir, name+".trajectory"); err != nil {
				return nil, err
			}
		}
		model := append(append([]Record(nil), ph.Learned...), ph.Own...)
		events := make([]*event.Event, len(model))
		for i, rec := range model {
			events[i] = rec.Event
		}
		for _, f := range forensics {
			x := Explained{Forensic: f}
			x.Match, x.Found = event.Nearest(f.Event, events)
			if x.Found {
				x.Nearest = model[x.Match.Index]
			}
			ph.Events = append(ph.Events, x)
		}
		r.Phases = append(r.Phases, ph)
	}
	return r, nil
}

// phasesFromFiles lists the phases of a directory without plan.json from
// its <phase>.forensics and <phase>.trajectory files, and guesses the
// learned one: the only phase with a trajectory and no forensic records.
func phasesFromFiles(dir string) ([]string, Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Source{}, err
	}
	var withForensics, learnedCandidates []string
	trajectories := map[string]bool{}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".trajectory"); ok && name != "" {
			trajectories[name] = true
		}
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".forensics")
		if !ok || name == "" {
			continue
		}
		recs, _, err := readRecords(dir, e.Name())
		if err != nil {
			return nil, Source{}, err
		}
		if len(recs) > 0 {
			withForensics = append(withForensics, name)
		} else {
			learnedCandidates = append(learnedCandidates, name)
		}
		delete(trajectories, name)
	}
	for name := range trajectories {
		learnedCandidates = append(learnedCandidates, name) // a trajectory and no forensics file at all
	}
	sort.Strings(learnedCandidates)
	var learned []string
	for _, name := range learnedCandidates {
		if _, err := os.Lstat(filepath.Join(dir, name+".trajectory")); err == nil {
			learned = append(learned, name)
		}
	}
	switch len(learned) {
	case 1:
		return withForensics, Source{Phase: learned[0], Why: fmt.Sprintf("no plan.json; %s is the only phase with a trajectory and no forensic events", learned[0])}, nil
	case 0:
		return withForensics, Source{Why: "no plan.json, and no phase with a trajectory and no forensic events"}, nil
	}
	return withForensics, Source{Why: fmt.Sprintf("no plan.json, and phases %s could each be the learned one: name it (--learned)", strings.Join(learned, ", "))}, nil
}

// unfinished names the modeled phases of plan that left no forensics file
// in dir: a guest that crashed, hung or was stopped before the phase's
// collection, whose out-of-model events are then not at hand.
func unfinished(dir string, plan protocol.Plan) []string {
	var notes []string
	for _, ph := range plan.Phases {
		if ph.TSEM == nil || ph.TSEM.Model == protocol.ModelLearn || !validName(ph.Name) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, ph.Name+".forensics")); errors.Is(err, fs.ErrNotExist) {
			notes = append(notes, fmt.Sprintf("phase %s left no forensics: it did not finish (a crash, a hang or a stop; see result.json and console.log), so what it did out of model is not known", ph.Name))
		}
	}
	return notes
}
