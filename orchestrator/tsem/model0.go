package tsem

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Model0Files are the files of a namespace's internal model, in the order
// OpenModel0 opens them.
var Model0Files = []string{
	"measurement",
	"state",
	"trajectory",
	"trajectory_coefficients",
	"trajectory_counts",
	"forensics",
	"forensics_coefficients",
	"forensics_counts",
}

// Model0 holds the eight model0 files of the caller's namespace open and
// re-reads them on demand.
//
// In a sealed, enforcing namespace every action is a security event: an
// open(2), and even an fcntl(2) on an open descriptor, that was not seen
// while learning makes the collector untrusted and it is refused from then
// on. So OpenModel0 opens everything before the namespace is sealed, and
// later reads use lseek(2) to offset 0 and read(2) only, on the same
// descriptors: the kernel generates the content at read time, so each read
// is current. The files describe the reader's own namespace: the collector
// must run inside it.
type Model0 struct {
	dir string
	fds map[string]int
}

// OpenModel0 opens the model0 files in dir (normally
// <root>/tsem/internal_tma/model0). On error nothing stays open.
func OpenModel0(dir string) (*Model0, error) {
	m := &Model0{dir: dir, fds: make(map[string]int, len(Model0Files))}
	for _, name := range Model0Files {
		fd, err := openRead(filepath.Join(dir, name))
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("open model0: %w", err)
		}
		m.fds[name] = fd
	}
	return m, nil
}

// Close closes every descriptor.
func (m *Model0) Close() error {
	var errs []error
	for name, fd := range m.fds {
		if err := unix.Close(fd); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", name, err))
		}
		delete(m.fds, name)
	}
	return errors.Join(errs...)
}

// Read returns the current content of one model0 file (a name of
// Model0Files) with lseek(0) and read(2) on the descriptor opened earlier.
func (m *Model0) Read(name string) ([]byte, error) {
	fd, ok := m.fds[name]
	if !ok {
		return nil, fmt.Errorf("read model0 %s: not an open model0 file", name)
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_SET); err != nil {
		return nil, fmt.Errorf("read model0 %s: %w", name, &os.PathError{Op: "lseek", Path: filepath.Join(m.dir, name), Err: err})
	}
	data, err := readAll(fd)
	if err != nil {
		return nil, fmt.Errorf("read model0 %s: %w", name, &os.PathError{Op: "read", Path: filepath.Join(m.dir, name), Err: err})
	}
	return data, nil
}

// ForensicsCount returns the number of out-of-model events so far: the sum
// of forensics_counts.
func (m *Model0) ForensicsCount() (int, error) {
	data, err := m.Read("forensics_counts")
	if err != nil {
		return 0, err
	}
	counts, err := ParseCounts(data)
	if err != nil {
		return 0, fmt.Errorf("read model0 forensics_counts: %w", err)
	}
	var sum uint64
	for _, c := range counts {
		sum += c
	}
	return int(sum), nil
}

// Forensics returns the forensics records, one JSON line each (see package
// event to decode them).
func (m *Model0) Forensics() ([]string, error) {
	data, err := m.Read("forensics")
	if err != nil {
		return nil, err
	}
	return ParseRecords(data), nil
}

// Snapshot is the content of all eight model0 files at one moment.
type Snapshot struct {
	// Raw maps each name of Model0Files to the bytes read.
	Raw map[string][]byte

	Measurement            string
	State                  string
	Trajectory             []string
	TrajectoryCoefficients []string
	TrajectoryCounts       []uint64
	Forensics              []string
	ForensicsCoefficients  []string
	ForensicsCounts        []uint64
}

// Snapshot reads all eight files and parses them.
func (m *Model0) Snapshot() (Snapshot, error) {
	s := Snapshot{Raw: make(map[string][]byte, len(Model0Files))}
	for _, name := range Model0Files {
		data, err := m.Read(name)
		if err != nil {
			return s, err
		}
		s.Raw[name] = data
	}
	var errs []error
	check := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("parse model0 %s: %w", name, err))
		}
	}
	var err error
	s.Measurement, err = ParseHex(s.Raw["measurement"])
	check("measurement", err)
	s.State, err = ParseHex(s.Raw["state"])
	check("state", err)
	s.Trajectory = ParseRecords(s.Raw["trajectory"])
	s.TrajectoryCoefficients, err = ParseCoefficients(s.Raw["trajectory_coefficients"])
	check("trajectory_coefficients", err)
	s.TrajectoryCounts, err = ParseCounts(s.Raw["trajectory_counts"])
	check("trajectory_counts", err)
	s.Forensics = ParseRecords(s.Raw["forensics"])
	s.ForensicsCoefficients, err = ParseCoefficients(s.Raw["forensics_coefficients"])
	check("forensics_coefficients", err)
	s.ForensicsCounts, err = ParseCounts(s.Raw["forensics_counts"])
	check("forensics_counts", err)
	return s, errors.Join(errs...)
}

// lines splits file content into its non-empty lines.
func lines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// ParseRecords splits a trajectory or forensics file into its records, one
// per line. Both the JSON records of current kernels and the text records
// of pre-2024 kernels (`event{…} COE{…} …`) are one line each.
func ParseRecords(data []byte) []string { return lines(data) }

// ParseCounts parses a *_counts file: one decimal count per line. An empty
// file gives no counts.
func ParseCounts(data []byte) ([]uint64, error) {
	var out []uint64
	for i, l := range lines(data) {
		n, err := strconv.ParseUint(strings.TrimSpace(l), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a count", i+1, l)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseCoefficients parses a *_coefficients file: one hex coefficient per
// line, all of one length. An empty file gives none.
func ParseCoefficients(data []byte) ([]string, error) {
	var out []string
	for i, l := range lines(data) {
		v, err := parseHexValue(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if len(out) > 0 && len(v) != len(out[0]) {
			return nil, fmt.Errorf("line %d: %d hex digits, line 1 has %d", i+1, len(v), len(out[0]))
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseHex parses a one-value file (measurement, state, aggregate). An
// empty file gives "".
func ParseHex(data []byte) (string, error) {
	ls := lines(data)
	if len(ls) == 0 {
		return "", nil
	}
	if len(ls) != 1 {
		return "", fmt.Errorf("want one hex line, got %d lines", len(ls))
	}
	return parseHexValue(ls[0])
}

func parseHexValue(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if _, err := hex.DecodeString(s); err != nil || s == "" {
		return "", fmt.Errorf("%q is not hex", abbrev(s))
	}
	return s, nil
}

func abbrev(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// Dialect names the record format of a trajectory or forensics line:
// "json" for current kernels, "text" for the pre-2024 `event{…}` form, ""
// for anything else.
func Dialect(record []byte) string {
	r := bytes.TrimSpace(record)
	switch {
	case bytes.HasPrefix(r, []byte("{")):
		return "json"
	case bytes.HasPrefix(r, []byte("event{")), bytes.HasPrefix(r, []byte("pid{")):
		return "text"
	}
	return ""
}
