package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/tsemlab/tsemlab/harness/result"
)

// JSON writes r as indented JSON: the results.json format of a run
// directory. Characters such as < and & are written as they are, not as
// \u escapes, so the file reads like the console it came from.
func JSON(w io.Writer, r *result.Run) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write results JSON: %w", err)
	}
	return nil
}

// ReadJSON reads a Run written by JSON, such as a past run's results.json.
// Fields it does not know are ignored, so newer results stay readable; a
// null scenario, phase or step is an error, since the writers rely on none
// being nil.
func ReadJSON(r io.Reader) (*result.Run, error) {
	var run result.Run
	if err := json.NewDecoder(r).Decode(&run); err != nil {
		return nil, fmt.Errorf("read results JSON: %w", err)
	}
	for i, sc := range run.Scenarios {
		if sc == nil {
			return nil, fmt.Errorf("read results JSON: scenario %d is null", i+1)
		}
		for j, ph := range sc.Phases {
			if ph == nil {
				return nil, fmt.Errorf("read results JSON: scenario %q: phase %d is null", sc.Name, j+1)
			}
			for k, st := range ph.Steps {
				if st == nil {
					return nil, fmt.Errorf("read results JSON: scenario %q, phase %q: step %d is null", sc.Name, ph.Name, k+1)
				}
			}
		}
	}
	return &run, nil
}
