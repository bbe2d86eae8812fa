package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
)

// Timings: each scenario's duration in the last run that finished it,
// kept in a JSON file in the cache ({"FILE#NAME": seconds}), so that
// parallel runs start the longest scenarios first and no long one is left
// to run alone at the end.

// timingKey names a scenario in the timings file: its file and name.
func timingKey(s *scenario.Scenario) string {
	f, err := filepath.Abs(s.File)
	if err != nil {
		f = s.File
	}
	return f + "#" + s.Name
}

// readTimings reads the timings file; a missing or unreadable one is
// empty (it only costs the order).
func readTimings(path string) map[string]float64 {
	t := map[string]float64{}
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &t)
	}
	return t
}

// longestFirst is the order to start scenarios in: those never timed
// first (they may be long), then by last duration, longest first; ties in
// file order.
func longestFirst(scenarios []*scenario.Scenario, timings map[string]float64) []int {
	order := make([]int, len(scenarios))
	known := make([]float64, len(scenarios))
	for i, s := range scenarios {
		order[i] = i
		d, ok := timings[timingKey(s)]
		if !ok {
			d = -1
		}
		known[i] = d
	}
	sort.SliceStable(order, func(a, b int) bool {
		da, db := known[order[a]], known[order[b]]
		if da < 0 || db < 0 {
			return da < 0 && db >= 0
		}
		return da > db
	})
	return order
}

// startOrder is the order Run starts the scenarios in: longest first when
// several run at once and timings are kept, else file order.
func startOrder(c Config, scenarios []*scenario.Scenario) []int {
	if c.Timings == "" || c.Jobs <= 1 {
		order := make([]int, len(scenarios))
		for i := range order {
			order[i] = i
		}
		return order
	}
	return longestFirst(scenarios, readTimings(c.Timings))
}

// saveTimings merges the finished scenarios' durations into the timings
// file, under its lock (runs may end at the same time).
func saveTimings(ctx context.Context, path string, scenarios []*scenario.Scenario, run *result.Run) error {
	unlock, err := filelock.Lock(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	t := readTimings(path)
	for i, res := range run.Scenarios {
		// Left out: scenarios an interruption kept from running.
		if res == nil || (res.Status == result.Error && res.Duration == 0) {
			continue
		}
		t[timingKey(scenarios[i])] = time.Duration(res.Duration).Seconds()
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("timings: %w", err)
	}
	return os.Rename(tmp, path)
}
