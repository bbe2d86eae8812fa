package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/tsemlab/tsemlab/model"
)

// A model file named by `load:` ends up in plan.json, in the results and in
// the guest, so a scenario may only load files it ships with: a regular
// file of at most MaxModelSize bytes under the scenario file's own
// directory, named by a relative path without "..", that reads as a model.
// Symbolic links are followed only as far as they stay in that directory.

// modelPath checks the load name as written and returns it as a clean
// relative path, or a message saying what is wrong and how to fix it.
func modelPath(load string) (string, string) {
	const fix = "copy the model file next to the scenario (or below it) and give its relative path, or export the model from an earlier learn phase"
	switch {
	case strings.ContainsRune(load, 0):
		return "", fmt.Sprintf("%q contains a NUL character; name a model file", excerpt(load, 60))
	case strings.HasPrefix(load, "/"), filepath.IsAbs(load):
		return "", fmt.Sprintf("%q is an absolute path; models are loaded only from the scenario's own directory: %s", excerpt(load, 60), fix)
	case slices.Contains(strings.Split(filepath.ToSlash(load), "/"), ".."):
		return "", fmt.Sprintf("%q leaves the scenario's directory (\"..\"); models are loaded only from the scenario's own directory: %s", excerpt(load, 60), fix)
	}
	return filepath.FromSlash(path.Clean(filepath.ToSlash(load))), ""
}

// checkModelFile checks that rel, a clean relative path, names a model file
// a scenario in dir may load, returning a message when not.
func checkModelFile(dir, rel string) string {
	file := filepath.Join(dir, rel)
	resolved, err := filepath.EvalSymlinks(file)
	if err != nil {
		return "" // openModel says why, without the symlink detail.
	}
	if base, err := filepath.EvalSymlinks(dir); err == nil {
		base, _ = filepath.Abs(base)
		resolved, _ = filepath.Abs(resolved)
		if r, err := filepath.Rel(base, resolved); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return fmt.Sprintf("%s leads to %s, outside the scenario's directory (through a symbolic link); copy the model into the scenario's directory instead", file, resolved)
		}
	}
	return ""
}

// readModel reads and parses the model file rel (a clean relative path)
// under dir. The kernel confines the open to dir (os.Root: symbolic links
// may not lead out, whatever they are changed to after validation), a FIFO
// does not block it, and the size is checked again with fstat and while
// reading.
func readModel(dir, rel string) (string, error) {
	file := filepath.Join(dir, rel)
	if msg := checkModelFile(dir, rel); msg != "" {
		return "", errors.New(msg)
	}
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("open the scenario's directory: %w", err)
	}
	defer root.Close()
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("%s: cannot open: %w", file, err)
	}
	defer f.Close()
	data, verr := readLimited(file, f, MaxModelSize, "model")
	if verr != nil {
		return "", errors.New(verr.Error())
	}
	if _, err := model.Parse(bytes.NewReader(data)); err != nil {
		// The parser's message quotes the line, and the file may be
		// anything (a .env file): say only where.
		where := ""
		var se *model.SyntaxError
		if errors.As(err, &se) {
			where = fmt.Sprintf(" (line %d is not a valid model line)", se.Line)
		}
		return "", fmt.Errorf("%s is not a model file%s; name a model written by tsemlab or quixote -o (`tsemlab model lint %s` says what is wrong)", file, where, file)
	}
	return string(data), nil
}
