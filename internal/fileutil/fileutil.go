// Package fileutil holds small file operations the caches share.
package fileutil

import (
	"io"
	"os"
)

// Copy copies the regular file src to dst, created or truncated.
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
