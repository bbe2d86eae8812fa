// Package digest computes the SHA-256 digests the caches key things by
// (kernels, initramfs images, workload images, snapshots), hex-encoded.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strings"
)

// File returns the SHA-256 of the file at path.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, _, err := Reader(f)
	return sum, err
}

// UUID formats the first 128 bits of a hex key as a UUID (zero-padded
// when the key is shorter): the erofs images take theirs from their cache
// key, so that the same inputs give the same bytes.
func UUID(key string) string {
	k := (key + strings.Repeat("0", 32))[:32]
	return k[0:8] + "-" + k[8:12] + "-" + k[12:16] + "-" + k[16:20] + "-" + k[20:32]
}

// Reader returns the SHA-256 of everything r yields, and its length.
func Reader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
