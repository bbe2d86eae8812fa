// Package explain relates what TSEM recorded in a run to the model that
// was in force: for each forensic event of a phase, the nearest event of
// the model the phase loaded and the fields in which they differ; for
// the states of a model, the events behind them. It reads a scenario's
// results directory (plan.json and the <phase>.<model0 file> artifacts)
// and writes plain text; the comparison itself is event.Nearest and
// event.Diff.
package explain

import (
	"fmt"

	"github.com/tsemlab/tsemlab/protocol"
)

// Source names the phase whose trajectory holds the events of the model
// another phase loaded.
type Source struct {
	// Phase is the learn phase; "" when no phase of the run learned the
	// model (it came from a file of the scenario, or nothing says).
	Phase string
	// Why says how Phase was found, or why there is none, in words a
	// user can check against plan.json.
	Why string
}

// Learned returns the phase of plan whose learned trajectory is the
// model that phase name ran under: the latest earlier phase exporting
// the model name loads (exports shadow the scenario's files, as in the
// guest); else, when name loads nothing the run learned, the latest
// earlier phase with model learn.
func Learned(plan protocol.Plan, name string) Source {
	at := -1
	for i, ph := range plan.Phases {
		if ph.Name == name {
			at = i
			break
		}
	}
	if at < 0 {
		return Source{Why: fmt.Sprintf("plan.json has no phase %q", name)}
	}
	load := ""
	if t := plan.Phases[at].TSEM; t != nil {
		load = t.Load
	}
	if load != "" {
		for i := at - 1; i >= 0; i-- {
			if t := plan.Phases[i].TSEM; t != nil && t.Export == load {
				return Source{Phase: plan.Phases[i].Name, Why: fmt.Sprintf("%s loads %s, which phase %s exported", name, load, plan.Phases[i].Name)}
			}
		}
		if _, ok := plan.Files[load]; ok {
			return Source{Why: fmt.Sprintf("%s loads %s, a model file of the scenario: no phase of this run learned it", name, load)}
		}
	}
	for i := at - 1; i >= 0; i-- {
		if t := plan.Phases[i].TSEM; t != nil && t.Model == protocol.ModelLearn {
			why := fmt.Sprintf("%s loads no model a phase exported; %s is the latest earlier learn phase", name, plan.Phases[i].Name)
			if load != "" {
				why = fmt.Sprintf("%s loads %s, which no earlier phase exported; %s is the latest earlier learn phase", name, load, plan.Phases[i].Name)
			}
			return Source{Phase: plan.Phases[i].Name, Why: why}
		}
	}
	return Source{Why: fmt.Sprintf("no phase before %s learned a model", name)}
}
