package resultdir

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/report"
	"github.com/tsemlab/tsemlab/harness/result"
)

// fixture is a real run directory: process-grep on a 6.12 TSEM kernel.
const fixture = "../../cmd/tsemlab/testdata/results"

func TestOpen_ReadsARunAndItsArtifacts(t *testing.T) {
	d, err := Open(fixture)
	require.NoError(t, err)
	defer d.Close()
	run, err := d.Run()
	require.NoError(t, err)
	require.Len(t, run.Scenarios, 1)
	sc := run.Scenarios[0]
	assert.Equal(t, "process-grep", sc.Name)
	assert.Equal(t, filepath.Join(fixture, "process-grep"), sc.Dir, "found beside results.json, wherever it was written")
	data, err := d.Artifact(sc, "enforce.forensics")
	require.NoError(t, err)
	assert.Contains(t, string(data), "file_open")
	_, err = d.Artifact(sc, "learn.forensics")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestOpen_ReadsOneScenarioDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, ScenarioFile), `{"name":"caps-chown","status":"pass","duration":1.5,"phases":[{"name":"p","steps":[{"index":1,"status":"pass"}]}]}`)
	write(t, filepath.Join(dir, "p.trajectory"), "trajectory\n")
	d, err := Open(dir)
	require.NoError(t, err)
	defer d.Close()
	run, err := d.Run()
	require.NoError(t, err)
	require.Len(t, run.Scenarios, 1)
	assert.Equal(t, dir, run.Scenarios[0].Dir)
	assert.Equal(t, 1.5, run.Duration.Seconds())
	data, err := d.Artifact(run.Scenarios[0], "p.trajectory")
	require.NoError(t, err)
	assert.Equal(t, "trajectory\n", string(data))
}

func TestOpen_NotAResultsDirectory(t *testing.T) {
	_, err := Open(t.TempDir())
	assert.ErrorIs(t, err, ErrNotResults)
	assert.ErrorContains(t, err, "holds neither results.json (a run) nor result.json (a scenario)")
	_, err = Open(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

const secret = "SECRET outside the results directory\n"

// hostile plants something in a fresh results directory and returns it;
// outside is a directory beside it holding secret files.
type hostile func(t *testing.T, dir, outside string)

func runJSON(s string) hostile {
	return func(t *testing.T, dir, _ string) { write(t, filepath.Join(dir, RunFile), s) }
}

func scenarioJSON(s string) hostile {
	return func(t *testing.T, dir, _ string) { write(t, filepath.Join(dir, ScenarioFile), s) }
}

// TestRun_HostileContentIsRefused covers results files that tsemlab never
// writes: each must be an error naming the cause, never a panic, a hang or
// a byte from outside the directory.
func TestRun_HostileContentIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		plant hostile
		want  string
	}{
		{"null phase in result.json", scenarioJSON(`{"name":"a","phases":[null]}`), `scenario "a": phase 1 is null`},
		{"null step in result.json", scenarioJSON(`{"name":"a","phases":[{"name":"p","steps":[{},null]}]}`), `scenario "a", phase "p": step 2 is null`},
		{"null result.json", scenarioJSON(`null`), "the scenario is null"},
		{"null scenario", runJSON(`{"scenarios":[null]}`), "scenario 1 is null"},
		{"null phase", runJSON(`{"scenarios":[{"name":"a","phases":[null]}]}`), `scenario "a": phase 1 is null`},
		{"null step", runJSON(`{"scenarios":[{"name":"a","phases":[{"name":"p","steps":[null]}]}]}`), `step 1 is null`},
		{"scenario name climbs out", runJSON(`{"scenarios":[{"name":"../../x"}]}`), `scenario 1: name "../../x": holds "/"`},
		{"scenario name is ..", runJSON(`{"scenarios":[{"name":".."}]}`), "not a file name"},
		{"scenario name is .", runJSON(`{"scenarios":[{"name":"."}]}`), "not a file name"},
		{"scenario name is absolute", runJSON(`{"scenarios":[{"name":"/etc"}]}`), `holds "/"`},
		{"scenario name is empty", runJSON(`{"scenarios":[{"name":""}]}`), "empty"},
		{"scenario name has NUL", runJSON(`{"scenarios":[{"name":"a\u0000b"}]}`), "NUL"},
		{"scenario name has backslash", runJSON(`{"scenarios":[{"name":"..\\x"}]}`), `holds "/", "\"`},
		{"scenario name too long", runJSON(`{"scenarios":[{"name":"` + strings.Repeat("a", 256) + `"}]}`), "longer than 255 bytes"},
		{"phase name climbs out", runJSON(`{"scenarios":[{"name":"a","phases":[{"name":"../../../etc/passwd"}]}]}`), `phase 1: name "../../../etc/passwd"`},
		{"phase name climbs out of result.json", scenarioJSON(`{"name":"a","phases":[{"name":"../b"}]}`), `phase 1: name "../b"`},
		{"truncated JSON", runJSON(`{"scenarios":`), "unexpected end of JSON input"},
		{"array instead of object", runJSON(`[]`), "cannot unmarshal array"},
		{"trailing garbage", runJSON(`{} {}`), "invalid character"},
		{"wrong type", runJSON(`{"scenarios":[{"name":"a","phases":[{"name":"p","steps":[{"index":"one"}]}]}]}`), "cannot unmarshal string"},
		{"deep nesting", runJSON(strings.Repeat("[", 20000) + strings.Repeat("]", 20000)), "exceeded max depth"},
		{"bad duration", runJSON(`{"duration":"1h"}`), "read results JSON"},
		{"results.json links outside", func(t *testing.T, dir, outside string) {
			write(t, filepath.Join(outside, "secret.json"), `{"scenarios":[{"name":"`+strings.TrimSpace(secret)+`"}]}`)
			require.NoError(t, os.Symlink(filepath.Join(outside, "secret.json"), filepath.Join(dir, RunFile)))
		}, "a symbolic link, not a regular file"},
		{"result.json links to /etc/passwd", func(t *testing.T, dir, _ string) {
			require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, ScenarioFile)))
		}, "a symbolic link, not a regular file"},
		{"results.json is a FIFO", func(t *testing.T, dir, _ string) {
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, RunFile), 0o644))
		}, "a FIFO, not a regular file"},
		{"results.json is a directory", func(t *testing.T, dir, _ string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, RunFile), 0o755))
		}, "a directory, not a regular file"},
		{"scenario directory links outside", func(t *testing.T, dir, outside string) {
			write(t, filepath.Join(dir, RunFile), `{"scenarios":[{"name":"a"}]}`)
			require.NoError(t, os.Symlink(outside, filepath.Join(dir, "a")))
		}, "a symbolic link, not a directory"},
		{"scenario directory is a file", func(t *testing.T, dir, outside string) {
			write(t, filepath.Join(dir, RunFile), `{"scenarios":[{"name":"a"}]}`)
			write(t, filepath.Join(dir, "a"), "")
		}, "a regular file, not a directory"},
		{"results.json is huge", func(t *testing.T, dir, _ string) {
			f, err := os.Create(filepath.Join(dir, RunFile))
			require.NoError(t, err)
			require.NoError(t, f.Truncate(MaxJSONSize+1))
			require.NoError(t, f.Close())
		}, "over the 64 MiB a results file may have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir, outside := filepath.Join(base, "run"), filepath.Join(base, "outside")
			require.NoError(t, os.Mkdir(dir, 0o755))
			require.NoError(t, os.Mkdir(outside, 0o755))
			tt.plant(t, dir, outside)
			run, err := within(t, func() (*result.Run, error) {
				d, err := Open(dir)
				if err != nil {
					return nil, err
				}
				defer d.Close()
				return d.Run()
			})
			require.Error(t, err, "got %+v", run)
			assert.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), "SECRET")
		})
	}
}

// TestArtifact_StaysInsideTheDirectory plants links and special files
// where `show --forensics` and `--trajectory` look.
func TestArtifact_StaysInsideTheDirectory(t *testing.T) {
	tests := []struct {
		name     string
		plant    hostile
		scenario string
		artifact string
		want     string
	}{
		{"scenario directory links outside", func(t *testing.T, dir, outside string) {
			write(t, filepath.Join(outside, "p.forensics"), secret)
			require.NoError(t, os.Symlink(outside, filepath.Join(dir, "a")))
		}, "a", "p.forensics", "a symbolic link, not a directory"},
		{"scenario directory links to /etc by a relative path", func(t *testing.T, dir, _ string) {
			require.NoError(t, os.Symlink("../../../../../../../etc", filepath.Join(dir, "a")))
		}, "a", "passwd", "a symbolic link, not a directory"},
		{"artifact links outside", func(t *testing.T, dir, outside string) {
			write(t, filepath.Join(outside, "secret"), secret)
			require.NoError(t, os.Mkdir(filepath.Join(dir, "a"), 0o755))
			require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "a", "p.forensics")))
		}, "a", "p.forensics", "a symbolic link, not a regular file"},
		{"artifact links inside", func(t *testing.T, dir, _ string) {
			write(t, filepath.Join(dir, "a", "other"), "inside\n")
			require.NoError(t, os.Symlink("other", filepath.Join(dir, "a", "p.forensics")))
		}, "a", "p.forensics", "a symbolic link, not a regular file"},
		{"artifact is a FIFO", func(t *testing.T, dir, _ string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "a"), 0o755))
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "a", "p.forensics"), 0o644))
		}, "a", "p.forensics", "a FIFO, not a regular file"},
		{"artifact is huge", func(t *testing.T, dir, _ string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "a"), 0o755))
			f, err := os.Create(filepath.Join(dir, "a", "p.forensics"))
			require.NoError(t, err)
			require.NoError(t, f.Truncate(MaxArtifactSize+1))
			require.NoError(t, f.Close())
		}, "a", "p.forensics", "over the 64 MiB"},
		{"artifact name climbs out", func(t *testing.T, dir, outside string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "a"), 0o755))
		}, "a", "../../outside/secret", `artifact "../../outside/secret": holds "/"`},
		{"scenario name climbs out", func(t *testing.T, dir, outside string) {}, "../outside", "secret", `scenario "../outside": holds "/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir, outside := filepath.Join(base, "run"), filepath.Join(base, "outside")
			require.NoError(t, os.Mkdir(dir, 0o755))
			require.NoError(t, os.Mkdir(outside, 0o755))
			write(t, filepath.Join(outside, "secret"), secret)
			write(t, filepath.Join(dir, RunFile), `{"scenarios":[]}`)
			tt.plant(t, dir, outside)
			d, err := Open(dir)
			require.NoError(t, err)
			defer d.Close()
			data, err := within(t, func() ([]byte, error) {
				return d.Artifact(&result.Scenario{Name: tt.scenario}, tt.artifact)
			})
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
			assert.NotContains(t, string(data), "SECRET")
		})
	}
}

// within runs f and fails the test if it does not return within 10s (a
// reader blocked on a FIFO, say).
func within[T any](t *testing.T, f func() (T, error)) (T, error) {
	t.Helper()
	type answer struct {
		v   T
		err error
	}
	done := make(chan answer, 1)
	go func() { v, err := f(); done <- answer{v, err} }()
	select {
	case a := <-done:
		return a.v, a.err
	case <-time.After(10 * time.Second):
		t.Fatal("blocked for 10s")
	}
	var zero T
	return zero, errors.New("unreachable")
}

// FuzzDecode feeds any bytes to both decoders: they may refuse them but
// never panic, and what they accept has no nil scenario, phase or step and
// only names that are one path element; `tsemlab show` must print it
// without panicking.
func FuzzDecode(f *testing.F) {
	real, err := os.ReadFile(filepath.Join(fixture, RunFile))
	require.NoError(f, err)
	f.Add(real)
	for _, s := range []string{
		`{"scenarios":[{"name":"a","phases":[null]}]}`,
		`{"name":"a","phases":[null]}`,
		`{"scenarios":[{"name":"../../x"}]}`,
		`{"scenarios":[{"name":"a","status":"crash","crash":"\u001b Kernel panic - not syncing: x","phases":[{"name":"p","steps":[{"index":1,"status":"not_run"}],"checks":[{"what":"w"}]}]}]}`,
		`{"name":"a","status":"timeout","phases":[{"name":"p","error":"e","steps":[{"evidence":null,"checks":null}]}],"environment":null}`,
		`null`, `{}`, `[]`, `{"scenarios":null}`, `{"duration":-1e308}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var runs []*result.Run
		if run, err := DecodeRun(data); err == nil {
			runs = append(runs, run)
		}
		if sc, err := DecodeScenario(data); err == nil {
			runs = append(runs, &result.Run{Scenarios: []*result.Scenario{sc}})
		}
		for _, run := range runs {
			for _, sc := range run.Scenarios {
				require.NotNil(t, sc)
				for _, ph := range sc.Phases {
					require.NotNil(t, ph)
					require.NoError(t, checkName(ph.Name))
					for _, st := range ph.Steps {
						require.NotNil(t, st)
					}
				}
			}
			var b bytes.Buffer
			require.NoError(t, report.Human(&b, run, report.HumanOptions{Verbose: true}))
			require.NoError(t, report.KTAP(io.Discard, run))
		}
	})
}
