package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const seedModel = "testdata/good/models/seed.model"

// loadScenario is a scenario whose enforce phase loads load.
func loadScenario(load string) []byte {
	return []byte("name: x\nrequires: {lsm: [tsem]}\nphases: [{name: e, tsem: {model: enforce, load: '" + load + "'}, steps: [{run: ls}]}]\n")
}

// modelDir returns a directory holding ok.model (a real model) and a
// scenario file path in it.
func modelDir(t *testing.T) (dir, scenarioFile string) {
	t.Helper()
	dir = t.TempDir()
	seed, err := os.ReadFile(seedModel)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ok.model"), seed, 0o644))
	return dir, filepath.Join(dir, "x.yaml")
}

func TestParse_LoadAcceptsModelFilesUnderTheScenarioDirectory(t *testing.T) {
	dir, file := modelDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "models"), 0o755))
	require.NoError(t, os.Symlink("../ok.model", filepath.Join(dir, "models", "link.model")))
	for _, load := range []string{"ok.model", "./ok.model", "models/link.model"} {
		t.Run(load, func(t *testing.T) {
			s, err := Parse(file, loadScenario(load))
			require.NoError(t, err)
			models, err := s.ReadModels()
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(models[load], "aggregate "))
		})
	}
}

func TestParse_LoadRefusesFilesOutsideTheScenarioDirectory(t *testing.T) {
	dir, file := modelDir(t)
	outside := filepath.Join(t.TempDir(), "secret.model")
	seed, err := os.ReadFile(seedModel)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(outside, seed, 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "out.model")))
	require.NoError(t, os.Symlink(filepath.Dir(outside), filepath.Join(dir, "outdir")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo.model"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big.model"), nil, 0o644))
	require.NoError(t, os.Truncate(filepath.Join(dir, "big.model"), MaxModelSize+1))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "env.txt"), []byte("SECRET=1\n"), 0o644))
	tests := []struct{ load, msg string }{
		{"/etc/passwd", `"load": "/etc/passwd" is an absolute path; models are loaded only from the scenario's own directory`},
		{"/proc/self/environ", `"load": "/proc/self/environ" is an absolute path`},
		{"../x.model", `"load": "../x.model" leaves the scenario's directory ("..")`},
		{"a/../../x.model", `leaves the scenario's directory ("..")`},
		{"out.model", `"load": ` + filepath.Join(dir, "out.model") + ` leads to ` + outside + `, outside the scenario's directory (through a symbolic link)`},
		{"outdir/secret.model", `leads to ` + outside + `, outside the scenario's directory`},
		{"fifo.model", `fifo.model: is a named pipe (FIFO); a model file must be a regular file`},
		{"big.model", `big.model: has 4194305 bytes, more than the model limit of 4 MiB (4194304 bytes)`},
		{"env.txt", `env.txt is not a model file (line 1 is not a valid model line)`},
		{".", `is a directory, not a model file`},
	}
	for _, tt := range tests {
		t.Run(tt.load, func(t *testing.T) {
			_, err := Parse(file, loadScenario(tt.load))
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, 3, ve.Line)
			assert.Contains(t, ve.Msg, tt.msg)
		})
	}
}

// TestReadModels_ChecksTheFileAgain swaps a validated model file for
// something else before the run reads it.
func TestReadModels_ChecksTheFileAgain(t *testing.T) {
	tests := []struct {
		name string
		swap func(t *testing.T, file string)
		msg  string
	}{
		{"symlink out", func(t *testing.T, file string) {
			require.NoError(t, os.Symlink("/etc/passwd", file))
		}, "outside the scenario's directory"},
		{"fifo", func(t *testing.T, file string) {
			require.NoError(t, syscall.Mkfifo(file, 0o644))
		}, "is a named pipe (FIFO)"},
		{"too big", func(t *testing.T, file string) {
			require.NoError(t, os.WriteFile(file, nil, 0o644))
			require.NoError(t, os.Truncate(file, MaxModelSize+1))
		}, "more than the model limit of 4 MiB"},
		{"not a model", func(t *testing.T, file string) {
			require.NoError(t, os.WriteFile(file, []byte("PATH=/bin\n"), 0o644))
		}, "is not a model file (line 1 is not a valid model line)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, file := modelDir(t)
			s, err := Parse(file, loadScenario("ok.model"))
			require.NoError(t, err)
			model := s.Phases[0].TSEM.LoadFile
			require.NoError(t, os.Remove(model))
			tt.swap(t, model)
			_, err = s.ReadModels()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "read model for phase e of "+file)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}
