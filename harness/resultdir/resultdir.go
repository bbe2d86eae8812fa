// Package resultdir owns a run's results directory on disk: New creates
// one under a name no other run can take, Latest points results/latest at
// it, and Open reads a past one back for `tsemlab show`, opening nothing
// outside it.
//
// A results directory is input like any other: it may come from another
// machine, a CI artifact or a hostile guest's run. Reading one never panics,
// never follows a symbolic link, never opens a file outside the directory
// and never reads more than a bounded number of bytes from one file.
package resultdir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// TimeFormat names a run directory: the UTC start time to the millisecond.
// A random suffix follows it ("20250601T120000.123Z-4f2a9c"); names sort by
// time.
const TimeFormat = "20060102T150405.000Z"

// LatestName is the link in a results directory's parent that points at
// the newest run.
const LatestName = "latest"

// New creates a fresh run directory in parent (created if needed) and
// returns its path. The name is the time now in UTC (TimeFormat) and a
// random suffix; the directory is made with os.Mkdir, which fails when the
// name exists, and New tries again with another suffix, so runs started in
// the same millisecond never share a directory.
func New(parent string, now time.Time) (string, error) {
	return newDir(parent, now, randomSuffix)
}

// attempts bounds New's retries: with 24 random bits a clash is already
// rare; ten in a row means something else is wrong.
const attempts = 10

func newDir(parent string, now time.Time, suffix func() (string, error)) (string, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("results directory: %w", err)
	}
	stamp := now.UTC().Format(TimeFormat)
	for range attempts {
		s, err := suffix()
		if err != nil {
			return "", fmt.Errorf("results directory: %w", err)
		}
		dir := filepath.Join(parent, stamp+"-"+s)
		err = os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("results directory: %w", err)
		}
	}
	return "", fmt.Errorf("results directory: %d names under %s/%s-* were all taken", attempts, parent, stamp)
}

func randomSuffix() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Latest points LatestName beside dir at dir, with a relative link. The
// link is made under a temporary name and renamed over the old one, which
// is atomic: a reader finds the old run or the new one, never no link, and
// of two runs finishing at once one wins whole.
func Latest(dir string) error {
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	latest := filepath.Join(parent, LatestName)
	for range attempts {
		s, err := randomSuffix()
		if err != nil {
			return fmt.Errorf("link %s: %w", latest, err)
		}
		tmp := filepath.Join(parent, "."+LatestName+"-"+s)
		if err := os.Symlink(base, tmp); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return fmt.Errorf("link %s: %w", latest, err)
		}
		if err := os.Rename(tmp, latest); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("link %s: %w", latest, err)
		}
		return nil
	}
	return fmt.Errorf("link %s: no free temporary name", latest)
}
