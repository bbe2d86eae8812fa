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
