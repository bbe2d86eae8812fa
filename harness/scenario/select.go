package scenario

import (
	"fmt"
	"slices"
	"strings"
)

// Select keeps the scenarios named in only (all when only is empty) and
// drops those named in skip. A name that matches no scenario is an error: a
// typo would otherwise run nothing and pass.
func Select(all []*Scenario, only, skip []string) ([]*Scenario, error) {
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	for _, n := range append(slices.Clone(only), skip...) {
		if !slices.Contains(names, n) {
			return nil, fmt.Errorf("no scenario named %q (have: %s)", n, strings.Join(names, ", "))
		}
	}
	var out []*Scenario
	for _, s := range all {
		if (len(only) == 0 || slices.Contains(only, s.Name)) && !slices.Contains(skip, s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}
