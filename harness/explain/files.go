package explain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/protocol"
)

// MaxFile bounds each file read from a results directory. A model0 file
// of a long workload has some thousand records of under 2 KiB each.
const MaxFile = 64 << 20

// Record is an event record and where it was read.
type Record struct {
	// File is the name of the file in the scenario directory.
	File string
	// Line is the record's line in File, from 1.
	Line  int
	Event *event.Event
}

// Ref names the record as "learn.trajectory line 53".
func (r Record) Ref() string { return fmt.Sprintf("%s line %d", r.File, r.Line) }

// readFile reads the regular file name in dir. The name must be one path
// element; symbolic links and other non-regular files are refused, so
// nothing outside dir is read. A missing file is an error that
// errors.Is(err, fs.ErrNotExist).
func readFile(dir, name string) ([]byte, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%q is not a file name in a results directory", name)
	}
	path := filepath.Join(dir, name)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); results are plain files", path, fi.Mode().Type())
	}
	if fi.Size() > MaxFile {
		return nil, fmt.Errorf("%s has %d bytes, more than the %d a results file may have", path, fi.Size(), MaxFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFile {
		return nil, fmt.Errorf("%s grew past %d bytes while read", path, MaxFile)
	}
	return data, nil
}

// validName reports whether name is a single, plain path element.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`+"\x00")
}

// readRecords reads the event records of file name in dir; a missing
// file has none.
func readRecords(dir, name string) ([]Record, bool, error) {
	data, err := readFile(dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	events, err := event.ParseAll(bytes.NewReader(data))
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	out := make([]Record, 0, len(events))
	line := 0
	lines := bytes.Split(data, []byte("\n"))
	for _, e := range events {
		// ParseAll skips blank lines: find each record's own line.
		for line < len(lines) && len(bytes.TrimSpace(lines[line])) == 0 {
			line++
		}
		line++
		out = append(out, Record{File: name, Line: line, Event: e})
	}
	return out, true, nil
}

// readPlan reads plan.json of a scenario directory; ok is false when
// there is none.
func readPlan(dir string) (plan protocol.Plan, ok bool, err error) {
	data, err := readFile(dir, "plan.json")
	if errors.Is(err, fs.ErrNotExist) {
		return plan, false, nil
	}
	if err != nil {
		return plan, false, err
	}
	if err := json.Unmarshal(data, &plan); err != nil {
		return plan, false, fmt.Errorf("%s: %w", filepath.Join(dir, "plan.json"), err)
	}
	for _, ph := range plan.Phases {
		if !validName(ph.Name) {
			return plan, false, fmt.Errorf("%s: phase name %q is not a plain file name", filepath.Join(dir, "plan.json"), ph.Name)
		}
	}
	return plan, true, nil
}
