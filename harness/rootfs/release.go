package rootfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Release is a Debian suite as a mirror serves it: what the image is built
// from, and what its cache key and metadata record.
type Release struct {
	Mirror string `json:"mirror"`
	// Requested is the suite the definition (or --suite) asked for.
	Requested string `json:"requested_suite"`
	// Suite is the codename the image is built from.
	Suite string `json:"suite"`
	// Fallback says why Suite differs from Requested; empty when it
	// does not.
	Fallback string `json:"fallback,omitempty"`
	// Version is the release's version (13.8), when the mirror says.
	Version string `json:"version,omitempty"`
	// Date is the InRelease file's Date: when the archive last changed.
	// It is the build's SOURCE_DATE_EPOCH.
	Date time.Time `json:"date"`
	// InReleaseSHA256 is the hash of the InRelease file, which lists the
	// hashes of every package index: any change to the suite changes it.
	InReleaseSHA256 string `json:"inrelease_sha256"`
}

// Fetcher gets a file from a mirror. It returns an error wrapping
// ErrNotServed when the mirror answers that the file does not exist.
type Fetcher interface {
	Fetch(ctx context.Context, url string) ([]byte, error)
}

// ErrNotServed marks a file (a suite's InRelease) the mirror does not have.
var ErrNotServed = errors.New("not served")

// FallbackSuite is the alias a build falls back to when the definition's
// suite is gone from the mirror: the newest Debian release it serves.
const FallbackSuite = "stable"

// ResolveRelease finds suite on mirror. When the mirror does not serve it
// and fallback is true, it resolves the mirror's stable release instead and
// says so in Fallback; with fallback false (the user named the suite) that
// is an error.
func ResolveRelease(ctx context.Context, f Fetcher, mirror, suite string, fallback bool) (*Release, error) {
	mirror = strings.TrimRight(mirror, "/")
	rel, err := fetchRelease(ctx, f, mirror, suite)
	if err == nil {
		return rel, nil
	}
	if !errors.Is(err, ErrNotServed) {
		return nil, err
	}
	if !fallback {
		return nil, fmt.Errorf("suite %s: %w; name a suite the mirror serves (its stable release is %s)", suite, err, stableName(ctx, f, mirror))
	}
	stable, serr := fetchRelease(ctx, f, mirror, FallbackSuite)
	if serr != nil {
		return nil, fmt.Errorf("suite %s: %w, and neither is %s: %w", suite, err, FallbackSuite, serr)
	}
	// Build from the codename, as apt in the image will name it; its
	// InRelease is the one mmdebstrap reads.
	rel, cerr := fetchRelease(ctx, f, mirror, stable.Suite)
	if cerr != nil {
		return nil, fmt.Errorf("suite %s (the mirror's %s): %w", stable.Suite, FallbackSuite, cerr)
	}
	rel.Requested = suite
	rel.Fallback = fmt.Sprintf("%s is not served by %s; building %s (Debian %s, the mirror's stable release) instead; pin a suite with --suite or TSEMLAB_DEBIAN_SUITE", suite, mirror, rel.Suite, rel.Version)
	return rel, nil
}

// stableName is the codename of the mirror's stable release, for messages.
func stableName(ctx context.Context, f Fetcher, mirror string) string {
	if rel, err := fetchRelease(ctx, f, mirror, FallbackSuite); err == nil {
		return rel.Suite
	}
	return "unknown"
}

// fetchRelease gets and parses dists/SUITE/InRelease.
func fetchRelease(ctx context.Context, f Fetcher, mirror, suite string) (*Release, error) {
	url := mirror + "/dists/" + suite + "/InRelease"
	data, err := f.Fetch(ctx, url)
	if err != nil {
		return nil, err
	}
	fields := parseRelease(data)
	rel := &Release{Mirror: mirror, Requested: suite, Suite: suite, Version: fields["Version"]}
	if c := fields["Codename"]; c != "" {
		rel.Suite = c
	}
	if rel.Date, err = parseDate(fields["Date"]); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	sum := sha256.Sum256(data)
	rel.InReleaseSHA256 = hex.EncodeToString(sum[:])
	return rel, nil
}

// parseRelease returns the top-level fields of a (clearsigned) Release
// file; the file lists that follow (MD5Sum:, SHA256:) are skipped.
func parseRelease(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	header := bytes.HasPrefix(data, []byte("-----BEGIN PGP SIGNED MESSAGE-----"))
	for sc.Scan() {
		line := sc.Text()
		if header {
			// The armor's own headers (Hash: ...) end at a blank line.
			if strings.TrimSpace(line) == "" {
				header = false
			}
			continue
		}
		if strings.HasPrefix(line, "-----BEGIN PGP SIGNATURE") {
			break
		}
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			if _, seen := out[k]; !seen {
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("InRelease has no valid Date: field (got %q)", s)
}

// HTTPFetcher fetches over HTTP(S) and reads file:// mirrors from disk.
type HTTPFetcher struct {
	// Client defaults to one with a 30s timeout.
	Client *http.Client
}

// Fetch gets url; a 404 or 410 is ErrNotServed.
func (h HTTPFetcher) Fetch(ctx context.Context, url string) ([]byte, error) {
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	if strings.HasPrefix(url, "file://") {
		c = &http.Client{Transport: http.NewFileTransport(http.Dir("/"))}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%s: %w (%s)", url, ErrNotServed, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	return data, nil
}
