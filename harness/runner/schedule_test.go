package runner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/facts"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/rootfs"
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

// One job: file order, except that the scenarios that boot with the same
// drives run one after the other, so that each restores the guest readied
// ahead from their snapshot.
func TestStartOrder_OneJobGroupsTheScenariosOfADriveSet(t *testing.T) {
	all := named("plain", "in-image", "container", "plain-too", "in-image-too", "lab")
	for _, s := range all {
		s.Phases = []scenario.Phase{{Name: "p"}}
	}
	all[1].Image, all[4].Image = "debian-minimal", "debian-minimal"
	all[2].Image, all[2].Mode = "debian-minimal", protocol.ModeContainer
	all[5].Phases = []scenario.Phase{{Name: "p", AppArmor: &scenario.AppArmor{Profile: "x"}}}
	var got []string
	for _, i := range startOrder(Config{Jobs: 1}, all) {
		got = append(got, all[i].Name)
	}
	assert.Equal(t, []string{"plain", "plain-too", "in-image", "in-image-too", "container", "lab"}, got)
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

// fakeImages is a run's workload images: ready ones, failed ones, and the
// Keep calls a run makes.
type fakeImages struct {
	ready  map[string]bool
	failed map[string]error
	kept   [][]string
}

func (f *fakeImages) Image(ctx context.Context, name string) (*rootfs.Image, error) {
	if err := f.failed[name]; err != nil {
		return nil, err
	}
	if !f.ready[name] {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &rootfs.Image{Name: name, Path: "/cache/" + name + ".erofs", Format: "erofs"}, nil
}

func (f *fakeImages) Ready(names ...string) bool {
	for _, n := range names {
		if !f.ready[n] && f.failed[n] == nil {
			return false
		}
	}
	return true
}

func (f *fakeImages) Keep(names []string) []string {
	f.kept = append(f.kept, names)
	return nil
}

// knowsNoTSEM is a facts cache that knows kernel "k" has no TSEM.
func knowsNoTSEM(t *testing.T) facts.Cache {
	cache := facts.Cache{Dir: t.TempDir()}
	require.NoError(t, cache.Put("k", nil, protocol.Hello{ProtocolVersion: protocol.Version, KernelRelease: "6.1", LSMs: []string{"capability"}}, time.Now()))
	return cache
}

// TestQueue_ScenariosThatCanStartGoFirst: while an image is being built,
// the scenarios that need none, need a built one or are skipped without a
// boot start first; the waiting ones keep their order and start when
// nothing else can.
func TestQueue_ScenariosThatCanStartGoFirst(t *testing.T) {
	all := []*scenario.Scenario{
		{Name: "needs-httpd", Image: "httpd"},
		{Name: "plain"},
		{Name: "needs-minimal", Phases: []scenario.Phase{{Name: "p", Image: "debian-minimal"}}},
		{Name: "skipped", Image: "httpd", Requires: scenario.Requires{LSM: []string{"tsem"}}},
		{Name: "also-httpd", Image: "httpd"},
	}
	c := Config{Kernel: &kernel.Kernel{SHA256: "k"}, Facts: knowsNoTSEM(t), RootFS: &fakeImages{ready: map[string]bool{"debian-minimal": true}}}
	q := &queue{c: c, scenarios: all, order: []int{0, 1, 2, 3, 4}}
	var got []string
	for {
		i, ok := q.take(context.Background())
		if !ok {
			break
		}
		got = append(got, all[i].Name)
	}
	assert.Equal(t, []string{"plain", "needs-minimal", "skipped", "needs-httpd", "also-httpd"}, got)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q = &queue{c: c, scenarios: all, order: []int{0, 1}}
	_, ok := q.take(ctx)
	assert.False(t, ok, "nothing starts after an interruption")
}

// TestRun_ImagesOfSkippedScenariosAreNotBuiltAndAFailedImageIsTheScenariosError:
// the run keeps only the builds its runnable scenarios need, a scenario
// skipped on this kernel waits for no image, and a scenario whose image
// failed to build ends in error, naming it, without booting.
func TestRun_ImagesOfSkippedScenariosAreNotBuiltAndAFailedImageIsTheScenariosError(t *testing.T) {
	imgs := &fakeImages{failed: map[string]error{"debian-minimal": errors.New("workload image debian-minimal: mmdebstrap: exit status 1 (full log: /c/x.log)")}}
	steps := []scenario.Phase{{Name: "p", Steps: []scenario.Step{{Run: "true"}}}}
	all := []*scenario.Scenario{
		{Name: "tsem-httpd", File: "/s/a.yaml", Image: "httpd", Requires: scenario.Requires{LSM: []string{"tsem"}}, Phases: steps},
		{Name: "minimal", File: "/s/b.yaml", Image: "debian-minimal", Phases: steps},
	}
	c := Config{
		Kernel: &kernel.Kernel{Path: "/k", SHA256: "k"}, Image: &image.Image{Path: "/i.cpio"}, QEMU: "/nonexistent/qemu",
		Facts: knowsNoTSEM(t), RootFS: imgs, OutDir: t.TempDir(), Log: discard(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := Run(ctx, c, all)
	assert.Equal(t, [][]string{{"debian-minimal"}}, imgs.kept, "httpd is only named by a scenario skipped on this kernel")
	require.Len(t, run.Scenarios, 2)
	assert.Equal(t, result.Skip, run.Scenarios[0].Status, "skipped without waiting for httpd, which is never ready")
	assert.Equal(t, result.Error, run.Scenarios[1].Status)
	assert.Contains(t, run.Scenarios[1].Reason, "workload image debian-minimal: mmdebstrap: exit status 1 (full log: /c/x.log)")
	assert.NoFileExists(t, filepath.Join(c.OutDir, "minimal", "console.log"), "nothing booted")
}
