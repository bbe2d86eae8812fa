package scenario

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

// Hostile inputs: every file under testdata/hostile/, and the cases below
// that cannot be committed (FIFOs, devices, symbolic links out of the
// directory, files of many megabytes), must be refused with a
// ValidationError that matches its golden file and names a line when the
// problem has one, without a panic and within a bounded amount of work.
// The work is bounded by the limits (file size, alias budget, depth), not
// by a clock: the test checks the memory each load allocates instead.

// maxAlloc is the most memory one hostile load may allocate. The largest
// case, a 1 MiB file of one-character list items (500000 yaml.Nodes),
// allocates about 240 MiB, most of it in yaml.v3; the alias bomb of
// alias-bomb-nested-sequences.yaml allocated 24 GB before the limits.
const maxAlloc = 512 << 20

// noPosition lists the cases whose error is about the file as a whole.
var noPosition = map[string]bool{
	"gen-fifo":               true,
	"gen-dev-zero":           true,
	"gen-symlink-dev-zero":   true,
	"gen-socket":             true,
	"gen-50mb":               true,
	"gen-huge-scalar-2mb":    true,
	"gen-directory-of-fifos": true,
}

// loadHostile loads path and checks what every hostile input must get:
// no panic, an error made of ValidationErrors, bounded allocation. It
// returns the error text.
func loadHostile(t *testing.T, path string) ValidationErrors {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var (
		all []*Scenario
		err error
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic loading %s: %v", path, r)
			}
		}()
		all, err = LoadAll(t.Context(), []string{path})
	}()
	runtime.ReadMemStats(&after)
	assert.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(maxAlloc), "allocated %d MiB", (after.TotalAlloc-before.TotalAlloc)>>20)
	assert.Empty(t, all, "a hostile input was accepted")
	var errs ValidationErrors
	require.ErrorAs(t, err, &errs)
	require.NotEmpty(t, errs)
	return errs
}

func checkHostile(t *testing.T, name string, errs ValidationErrors, dir string) {
	t.Helper()
	for _, e := range errs {
		if !noPosition[name] {
			assert.Positive(t, e.Line, "error without a line: %s", e)
		}
		assert.NotEmpty(t, e.Msg)
		assert.LessOrEqual(t, len(e.Msg), 2*maxQuoted+400, "message repeats too much input: %.300s", e.Msg)
	}
	got := errs.Error() + "\n"
	if dir != "" {
		got = strings.ReplaceAll(got, dir, "$DIR")
	}
	testutil.Golden(t, filepath.Join("testdata", "hostile", name+".golden"), []byte(got))
}

func TestLoad_HostileFilesAreRefusedWithGoldenErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 40)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			errs := loadHostile(t, f)
			for _, e := range errs {
				assert.Equal(t, f, e.File)
			}
			checkHostile(t, name, errs, "")
		})
	}
}

// hostileCase makes an input in dir and returns the path to load.
type hostileCase struct {
	name string
	make func(t *testing.T, dir string) string
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func loadsModel(t *testing.T, dir, load string) string {
	t.Helper()
	return writeFile(t, filepath.Join(dir, "x.yaml"), string(loadScenario(load)))
}

var generatedHostile = []hostileCase{
	{"gen-fifo", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "x.yaml")
		require.NoError(t, syscall.Mkfifo(p, 0o644))
		return p
	}},
	{"gen-dev-zero", func(t *testing.T, dir string) string { return "/dev/zero" }},
	{"gen-symlink-dev-zero", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "x.yaml")
		require.NoError(t, os.Symlink("/dev/zero", p))
		return p
	}},
	{"gen-socket", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "x.yaml")
		l, err := net.Listen("unix", p)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		return p
	}},
	{"gen-directory-of-fifos", func(t *testing.T, dir string) string {
		for _, n := range []string{"a.yaml", "b.yml"} {
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, n), 0o644))
		}
		return dir
	}},
	{"gen-proc-file-symlink", func(t *testing.T, dir string) string {
		// A regular file whose size reads as 0 and that has content.
		p := filepath.Join(dir, "x.yaml")
		require.NoError(t, os.Symlink("/proc/sys/kernel/ostype", p))
		return p
	}},
	{"gen-50mb", func(t *testing.T, dir string) string {
		p := writeFile(t, filepath.Join(dir, "x.yaml"), minimal)
		require.NoError(t, os.Truncate(p, 50<<20))
		return p
	}},
	{"gen-huge-scalar-2mb", func(t *testing.T, dir string) string {
		return writeFile(t, filepath.Join(dir, "x.yaml"), "name: x\ndescription: "+strings.Repeat("x", 2<<20)+"\nphases: [{name: p, steps: [{run: ls}]}]\n")
	}},
	{"gen-huge-scalars-within-limit", func(t *testing.T, dir string) string {
		return writeFile(t, filepath.Join(dir, "x.yaml"), "name: x\ndescription: "+strings.Repeat("d", 500_000)+
			"\nphases: [{name: p, steps: [{run: ls, expect: {outcome: "+strings.Repeat("o", 500_000)+"}}]}]\n")
	}},
	{"gen-huge-key-within-limit", func(t *testing.T, dir string) string {
		return writeFile(t, filepath.Join(dir, "x.yaml"), "name: x\n? "+strings.Repeat("k", 1_000_000)+"\n: 1\nphases: [{name: p, steps: [{run: ls}]}]\n")
	}},
	{"gen-half-million-nodes", func(t *testing.T, dir string) string {
		items := strings.TrimSuffix(strings.Repeat("a,", 500_000), ",")
		return writeFile(t, filepath.Join(dir, "x.yaml"), "name: x\nbogus: 1\nphases: [{name: p, steps: [{run: ls}], setup: ["+items+"]}]\n")
	}},
	{"gen-model-symlink-out", func(t *testing.T, dir string) string {
		require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "out.model")))
		return loadsModel(t, dir, "out.model")
	}},
	{"gen-model-in-symlinked-dir", func(t *testing.T, dir string) string {
		require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "etc")))
		return loadsModel(t, dir, "etc/passwd")
	}},
	{"gen-model-symlink-dev-zero", func(t *testing.T, dir string) string {
		require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero.model")))
		return loadsModel(t, dir, "zero.model")
	}},
	{"gen-model-fifo", func(t *testing.T, dir string) string {
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo.model"), 0o644))
		return loadsModel(t, dir, "fifo.model")
	}},
	{"gen-model-5mb", func(t *testing.T, dir string) string {
		p := writeFile(t, filepath.Join(dir, "big.model"), "seal\n")
		require.NoError(t, os.Truncate(p, 5<<20))
		return loadsModel(t, dir, "big.model")
	}},
	{"gen-model-secrets-file", func(t *testing.T, dir string) string {
		writeFile(t, filepath.Join(dir, "secrets.env"), "AWS_SECRET_ACCESS_KEY=hunter2\n")
		return loadsModel(t, dir, "secrets.env")
	}},
}

func TestLoad_GeneratedHostileInputsAreRefusedWithGoldenErrors(t *testing.T) {
	for _, c := range generatedHostile {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := c.make(t, dir)
			checkHostile(t, c.name, loadHostile(t, p), dir)
		})
	}
}

func TestHostileCorpus_HasAtLeast40Cases(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile/*.yaml")
	require.NoError(t, err)
	n := len(files) + len(generatedHostile)
	assert.GreaterOrEqual(t, n, 40, fmt.Sprintf("%d hostile inputs", n))
}
