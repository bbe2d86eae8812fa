package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/facts"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

func named(names ...string) []*scenario.Scenario {
	var out []*scenario.Scenario
	for _, n := range names {
		out = append(out, &scenario.Scenario{Name: n, File: "/s/" + n + ".yaml"})
	}
	return out
}

func TestLongestFirst_UntimedFirstThenLongestTiesInFileOrder(t *testing.T) {
	all := named("short", "new", "long", "mid", "also-mid", "other-new")
	timings := map[string]float64{
		"/s/short.yaml#short": 1, "/s/long.yaml#long": 30, "/s/mid.yaml#mid": 5, "/s/also-mid.yaml#also-mid": 5,
		"/s/gone.yaml#gone": 99,
	}
	order := longestFirst(all, timings)
	var got []string
	for _, i := range order {
		got = append(got, all[i].Name)
	}
	assert.Equal(t, []string{"new", "other-new", "long", "mid", "also-mid", "short"}, got)
}

func TestStartOrder_FileOrderUnlessParallelWithTimings(t *testing.T) {
	all := named("a", "b")
	path := filepath.Join(t.TempDir(), "timings.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"/s/a.yaml#a": 1, "/s/b.yaml#b": 9}`), 0o644))
	assert.Equal(t, []int{0, 1}, startOrder(Config{Jobs: 1, Timings: path}, all))
	assert.Equal(t, []int{0, 1}, startOrder(Config{Jobs: 2}, all))
	assert.Equal(t, []int{1, 0}, startOrder(Config{Jobs: 2, Timings: path}, all))
}

func TestSaveTimings_MergesAndLeavesOutWhatNeverRan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timings.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"/s/old.yaml#old": 7, "/s/a.yaml#a": 1}`), 0o644))
	all := named("a", "b", "c")
	run := &result.Run{Scenarios: []*result.Scenario{
		{Name: "a", Status: result.Pass, Duration: result.Duration(4 * time.Second)},
		{Name: "b", Status: result.Skip},
		{Name: "c", Status: result.Error, Reason: "interrupted before it started"},
	}}
	require.NoError(t, saveTimings(context.Background(), path, all, run))
	got := readTimings(path)
	assert.Equal(t, map[string]float64{"/s/old.yaml#old": 7, "/s/a.yaml#a": 4, "/s/b.yaml#b": 0}, got)
}

// A parallel run of scenarios the kernel is known not to run boots
// nothing, reports in file order and remembers the timings.
func TestRun_ParallelReportsInFileOrderAndRemembersTimings(t *testing.T) {
	cache := facts.Cache{Dir: t.TempDir()}
	require.NoError(t, cache.Put("abc", nil, protocol.Hello{ProtocolVersion: protocol.Version, KernelRelease: "6.1", LSMs: []string{"capability"}}, time.Now()))
	all := named("one", "two", "three")
	for _, s := range all {
		s.Requires = scenario.Requires{LSM: []string{"tsem"}}
	}
	path := filepath.Join(t.TempDir(), "timings.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"/s/three.yaml#three": 9}`), 0o644))
	c := Config{Kernel: &kernel.Kernel{Path: "/k", SHA256: "abc"}, Facts: cache, OutDir: t.TempDir(), Log: discard(), Jobs: 2, Timings: path}
	run := Run(context.Background(), c, all)
	require.Len(t, run.Scenarios, 3)
	for i, want := range []string{"one", "two", "three"} {
		assert.Equal(t, want, run.Scenarios[i].Name)
		assert.Equal(t, result.Skip, run.Scenarios[i].Status)
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var timings map[string]float64
	require.NoError(t, json.Unmarshal(data, &timings))
	assert.Len(t, timings, 3)
	assert.Less(t, timings["/s/three.yaml#three"], 9.0, "replaced by this run's")
}
