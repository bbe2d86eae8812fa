package resultdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tsemlab/tsemlab/harness/result"
)

const (
	// RunFile is a run directory's results (a result.Run as JSON).
	RunFile = "results.json"
	// ScenarioFile is a scenario directory's result (a result.Scenario).
	ScenarioFile = "result.json"
	// MaxJSONSize bounds RunFile and ScenarioFile: 64 MiB. A run of every
	// shipped scenario writes about 100 KiB; the bound only keeps a
	// planted file from exhausting memory.
	MaxJSONSize = 64 << 20
	// MaxArtifactSize bounds one artifact (a trajectory or forensics
	// file): 64 MiB, far above the few MiB of the largest real trajectory.
	MaxArtifactSize = 64 << 20
)

// ErrNotResults is what Open returns for a directory that holds neither
// RunFile nor ScenarioFile.
var ErrNotResults = errors.New("not a tsemlab results directory")

// Dir is a results directory opened for reading: a run's (RunFile and one
// directory per scenario) or one scenario's (ScenarioFile and its
// artifacts). Every file it opens is inside it: names from the results are
// single path elements, symbolic links are refused, and files are opened
// through an os.Root, which resolves each component with openat and
// O_NOFOLLOW, so that a directory swapped for a link while it is read
// cannot lead outside either.
type Dir struct {
	path string
	root *os.Root
	// single is true for one scenario's directory.
	single bool
}

// Open opens the results directory at path (a link to one, such as
// results/latest, is followed: the caller named it). The caller closes it.
func Open(path string) (*Dir, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	d := &Dir{path: path, root: root}
	switch {
	case d.exists(RunFile):
	case d.exists(ScenarioFile):
		d.single = true
	default:
		root.Close()
		return nil, fmt.Errorf("%s holds neither %s (a run) nor %s (a scenario): %w", path, RunFile, ScenarioFile, ErrNotResults)
	}
	return d, nil
}

// Close releases the directory.
func (d *Dir) Close() error { return d.root.Close() }

func (d *Dir) exists(name string) bool {
	_, err := d.root.Lstat(name)
	return err == nil
}

// Run reads the run: RunFile, or ScenarioFile wrapped as a one-scenario
// run. Each scenario's Dir is set to where its files are now (the run may
// have moved since it was written). Malformed JSON, a null scenario, phase
// or step (which tsemlab never writes), a scenario or phase name that is
// not a single path element, and a scenario directory that is a link or
// not a directory are errors naming the file.
func (d *Dir) Run() (*result.Run, error) {
	if d.single {
		data, err := d.read(ScenarioFile, MaxJSONSize)
		if err != nil {
			return nil, err
		}
		sc, err := DecodeScenario(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(d.path, ScenarioFile), err)
		}
		sc.Dir = d.path
		return &result.Run{Dir: d.path, Duration: sc.Duration, Scenarios: []*result.Scenario{sc}}, nil
	}
	data, err := d.read(RunFile, MaxJSONSize)
	if err != nil {
		return nil, err
	}
	run, err := DecodeRun(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(d.path, RunFile), err)
	}
	run.Dir = d.path
	for _, sc := range run.Scenarios {
		// Consumers (tsemlab explain) open files in sc.Dir: it must not
		// lead elsewhere. A scenario may have no directory (skipped early).
		if err := d.checkDir(sc.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		sc.Dir = filepath.Join(d.path, sc.Name)
	}
	return run, nil
}

// Artifact reads the file name (a single path element, such as
// "enforce.forensics") of scenario sc, as returned by Run, up to
// MaxArtifactSize bytes. A missing file is an error wrapping
// fs.ErrNotExist.
func (d *Dir) Artifact(sc *result.Scenario, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("artifact %q: %w", name, err)
	}
	rel := name
	if !d.single {
		if err := checkName(sc.Name); err != nil {
			return nil, fmt.Errorf("scenario %q: %w", sc.Name, err)
		}
		if err := d.checkDir(sc.Name); err != nil {
			return nil, err
		}
		rel = path.Join(sc.Name, name)
	}
	return d.read(rel, MaxArtifactSize)
}

// checkDir refuses a scenario directory that is a link or not a directory.
func (d *Dir) checkDir(rel string) error {
	st, err := d.root.Lstat(rel)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %s, not a directory: a results directory holds no links", filepath.Join(d.path, rel), typeName(st.Mode()))
	}
	return nil
}

// read returns the regular file rel, refusing links, devices and FIFOs
// and files over max bytes.
func (d *Dir) read(rel string, max int64) ([]byte, error) {
	full := filepath.Join(d.path, rel)
	st, err := d.root.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s, not a regular file: a results directory holds no links or special files", full, typeName(st.Mode()))
	}
	// O_NONBLOCK: should a FIFO replace the file after the check, the
	// open must not wait for a writer.
	f, err := d.root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s, not a regular file", full, typeName(st.Mode()))
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, over the %d MiB a results file may have", full, st.Size(), max>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", full, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: over the %d MiB a results file may have", full, max>>20)
	}
	return data, nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// DecodeRun decodes RunFile's content, checked as Dir.Run describes.
// Fields it does not know are ignored, so newer results stay readable.
func DecodeRun(data []byte) (*result.Run, error) {
	var run result.Run
	if err := json.Unmarshal(data, &run); err != nil {
		return nil, fmt.Errorf("read results JSON: %w", err)
	}
	for i, sc := range run.Scenarios {
		if sc == nil {
			return nil, fmt.Errorf("read results JSON: scenario %d is null", i+1)
		}
		if err := checkName(sc.Name); err != nil {
			return nil, fmt.Errorf("read results JSON: scenario %d: name %q: %w", i+1, sc.Name, err)
		}
		if err := checkScenario(sc); err != nil {
			return nil, fmt.Errorf("read results JSON: %w", err)
		}
	}
	return &run, nil
}

// DecodeScenario decodes ScenarioFile's content, checked as Dir.Run
// describes.
func DecodeScenario(data []byte) (*result.Scenario, error) {
	var sc *result.Scenario
	if err := json.Unmarshal(data, &sc); err != nil {
		return nil, fmt.Errorf("read result JSON: %w", err)
	}
	if sc == nil {
		return nil, errors.New("read result JSON: the scenario is null")
	}
	if err := checkScenario(sc); err != nil {
		return nil, fmt.Errorf("read result JSON: %w", err)
	}
	return sc, nil
}

// checkScenario refuses null phases and steps and phase names that are
// not single path elements (they name artifact files).
func checkScenario(sc *result.Scenario) error {
	for j, ph := range sc.Phases {
		if ph == nil {
			return fmt.Errorf("scenario %q: phase %d is null", sc.Name, j+1)
		}
		if err := checkName(ph.Name); err != nil {
			return fmt.Errorf("scenario %q: phase %d: name %q: %w", sc.Name, j+1, ph.Name, err)
		}
		for k, st := range ph.Steps {
			if st == nil {
				return fmt.Errorf("scenario %q, phase %q: step %d is null", sc.Name, ph.Name, k+1)
			}
		}
	}
	return nil
}

// maxName is the longest file name Linux file systems take.
const maxName = 255

// checkName accepts a single path element: not empty, ".", ".." or over
// maxName bytes, without "/", "\" or NUL.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case name == "." || name == "..":
		return errors.New("not a file name")
	case len(name) > maxName:
		return fmt.Errorf("longer than %d bytes", maxName)
	case strings.ContainsAny(name, "/\\\x00"):
		return errors.New(`holds "/", "\" or NUL: a name is one path element`)
	}
	return nil
}
