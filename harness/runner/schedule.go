package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
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
// several run at once and timings are kept; else file order, the
// scenarios that boot with the same drives together (byDrives).
func startOrder(c Config, scenarios []*scenario.Scenario) []int {
	if c.Timings == "" || c.Jobs <= 1 {
		return byDrives(scenarios)
	}
	return longestFirst(scenarios, readTimings(c.Timings))
}

// byDrives is file order with the scenarios that boot with the same
// drives (workload images, tools drive) moved up behind the first of
// them. Such scenarios restore the same snapshot, and the guest restored
// ahead for the next scenario (see spares) is one of the scenario that
// starts now: in file order, a run alternating between drive sets threw
// it away and restored again at each change (0.3-0.5 s each under TCG).
// Results stay in file order.
func byDrives(scenarios []*scenario.Scenario) []int {
	var keys []string
	groups := map[string][]int{}
	for i, s := range scenarios {
		k := driveSet(s)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	order := make([]int, 0, len(scenarios))
	for _, k := range keys {
		order = append(order, groups[k]...)
	}
	return order
}

// driveSet names the drives a scenario boots with, as scenarioRun.drives
// attaches them: its plan's workload images in order, and the tools drive
// when it runs runc or apparmor_parser.
func driveSet(s *scenario.Scenario) string {
	p := s.Plan(scenario.PlanOptions{})
	k := strings.Join(p.Images(), "+")
	if p.NeedsTools() {
		k += "+" + protocol.ToolsImage
	}
	return k
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

// queue hands the scenarios to the workers in order, except that a
// scenario whose workload images are still being built (Config.RootFS)
// gives way to the first one that can start now: while the images of a
// fresh machine are built, the scenarios that need none run.
type queue struct {
	c         Config
	scenarios []*scenario.Scenario
	mu        sync.Mutex
	order     []int
}

// take removes and returns the next scenario to start; false when none
// is left or the run is interrupted.
func (q *queue) take(ctx context.Context) (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ctx.Err() != nil || len(q.order) == 0 {
		return 0, false
	}
	pick := max(slices.IndexFunc(q.order, func(i int) bool { return q.canStart(q.scenarios[i]) }), 0)
	i := q.order[pick]
	q.order = slices.Delete(q.order, pick, pick+1)
	return i, true
}

// canStart says whether s would start without waiting for an image: it
// needs none, they are built, or it is skipped without a boot.
func (q *queue) canStart(s *scenario.Scenario) bool {
	return imagesReady(q.c, s) || knownSkip(q.c, s) != ""
}

// imagesReady says whether s needs no workload image still being built.
func imagesReady(c Config, s *scenario.Scenario) bool {
	return c.RootFS == nil || c.RootFS.Ready(s.Images()...)
}

// waitImages waits until the workload images s needs are built (or have
// failed: the scenario's boot then reports why), so that its duration is
// its own.
func waitImages(ctx context.Context, c Config, s *scenario.Scenario) {
	if imagesReady(c, s) {
		return
	}
	names := s.Images()
	start := time.Now()
	c.Log.Info("waiting for workload images", "scenario", s.Name, "images", names)
	for _, name := range names {
		if _, err := c.RootFS.Image(ctx, name); err != nil {
			break
		}
	}
	c.Log.Info("workload images ready", "scenario", s.Name, "waited", time.Since(start).Round(100*time.Millisecond))
}

// keepNeededImages cancels the builds of workload images that only
// scenarios known to be skipped on this kernel name (a TSEM scenario's
// image on a kernel without TSEM).
func keepNeededImages(c Config, scenarios []*scenario.Scenario) {
	k, ok := c.RootFS.(keeper)
	if !ok {
		return
	}
	var need []string
	for _, s := range scenarios {
		if knownSkip(c, s) == "" {
			need = append(need, s.Images()...)
		}
	}
	if dropped := k.Keep(need); len(dropped) > 0 {
		c.Log.Info("workload images not built: the scenarios that need them are skipped on this kernel", "images", dropped)
	}
}
