package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tsemlab/tsemlab/harness/result"
)

// Formats are the stdout formats WriteAll knows.
var Formats = []string{"human", "ktap", "json"}

// Options say which reports WriteAll writes where. The zero value writes
// nothing but the files in Dir, when Dir is set.
type Options struct {
	// Stdout gets the run in Format, and the GitHub annotations; nil
	// writes neither.
	Stdout io.Writer
	// Format is Stdout's format: human, ktap or json.
	Format string
	// Color colors the human format.
	Color bool
	// Dir is the run's results directory: junit.xml and results.ktap are
	// written there; "" writes neither.
	Dir string
	// JUnit and JSON are files the user asked for; "" for none.
	JUnit, JSON string
	// GitHubSummary is a file (GitHub's $GITHUB_STEP_SUMMARY) that a
	// Markdown summary is appended to; "" for none.
	GitHubSummary string
	// GitHubAnnotations adds GitHub Actions workflow commands (error and
	// notice annotations) to Stdout.
	GitHubAnnotations bool
}

// WriteAll writes every report o asks for: the run in o.Format on
// o.Stdout (after an empty line for human, to set it off from the progress
// lines), the GitHub step summary and annotations, then the files. A
// report that cannot be written does not keep the others from being
// written; the error returned names each one that failed.
func WriteAll(run *result.Run, o Options) error {
	var errs []error
	if o.Stdout != nil {
		var err error
		switch o.Format {
		case "human":
			if _, err = fmt.Fprintln(o.Stdout); err == nil {
				err = Human(o.Stdout, run, HumanOptions{Color: o.Color})
			}
		case "ktap":
			err = KTAP(o.Stdout, run)
		case "json":
			err = JSON(o.Stdout, run)
		default:
			err = fmt.Errorf("unknown format %q: use human, ktap or json", o.Format)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stdout: %w", err))
		}
	}
	if o.GitHubSummary != "" {
		if err := appendTo(o.GitHubSummary, run, GitHubSummary); err != nil {
			errs = append(errs, err)
		}
	}
	if o.GitHubAnnotations && o.Stdout != nil {
		if err := GitHubAnnotations(o.Stdout, run); err != nil {
			errs = append(errs, fmt.Errorf("stdout: %w", err))
		}
	}
	type file struct {
		path  string
		write func(io.Writer, *result.Run) error
	}
	var files []file
	if o.Dir != "" {
		files = append(files, file{filepath.Join(o.Dir, "junit.xml"), JUnit}, file{filepath.Join(o.Dir, "results.ktap"), KTAP})
	}
	if o.JUnit != "" {
		files = append(files, file{o.JUnit, JUnit})
	}
	if o.JSON != "" {
		files = append(files, file{o.JSON, JSON})
	}
	for _, f := range files {
		if err := create(f.path, run, f.write); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// create writes path anew.
func create(path string, run *result.Run, write func(io.Writer, *result.Run) error) error {
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	return finish(path, w, write(w, run))
}

// appendTo adds to path, creating it if needed.
func appendTo(path string, run *result.Run, write func(io.Writer, *result.Run) error) error {
	w, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return finish(path, w, write(w, run))
}

// finish closes w and returns the first of err and the close error, naming
// path.
func finish(path string, w *os.File, err error) error {
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
