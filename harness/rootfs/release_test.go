package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeMirror serves InRelease files from a map; other URLs are not served.
type fakeMirror struct {
	files map[string]string
	err   error
	asked []string
}

func (m *fakeMirror) Fetch(_ context.Context, url string) ([]byte, error) {
	m.asked = append(m.asked, url)
	if m.err != nil {
		return nil, m.err
	}
	if s, ok := m.files[url]; ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("%s: %w (404 Not Found)", url, ErrNotServed)
}

// inRelease is a clearsigned Release file as Debian's archive writes it.
func inRelease(suite, codename, version, date string) string {
	return `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian
Suite: ` + suite + `
Version: ` + version + `
Codename: ` + codename + `
Date: ` + date + `
Acquire-By-Hash: yes
Architectures: all amd64 arm64
Components: main contrib non-free-firmware non-free
Description: Debian ` + version + ` Released
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
SHA256:
 d6c9c82f4e61b4662f752f3c5ee5c6b1f6ab9b9e9b3f9aa9f4ad9bd9de7a4f9f  1484322 contrib/Contents-all
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEE
-----END PGP SIGNATURE-----
`
}

const mirrorURL = "http://deb.example.org/debian"

func servingTrixie() *fakeMirror {
	return &fakeMirror{files: map[string]string{
		mirrorURL + "/dists/stable/InRelease":   inRelease("stable", "trixie", "13.7", "Sat, 12 Sep 2026 07:55:41 UTC"),
		mirrorURL + "/dists/trixie/InRelease":   inRelease("stable", "trixie", "13.8", "Sat, 21 Nov 2026 09:15:44 UTC"),
		mirrorURL + "/dists/bookworm/InRelease": inRelease("oldstable", "bookworm", "12.15", "Sat, 11 Jul 2026 10:16:37 UTC"),
	}}
}

func TestResolveRelease_ServedSuiteIsUsedAsIs(t *testing.T) {
	m := servingTrixie()
	rel, err := ResolveRelease(context.Background(), m, mirrorURL+"/", "bookworm", true)
	require.NoError(t, err)
	assert.Equal(t, "bookworm", rel.Suite)
	assert.Equal(t, "bookworm", rel.Requested)
	assert.Equal(t, "12.15", rel.Version)
	assert.Empty(t, rel.Fallback)
	assert.Equal(t, mirrorURL, rel.Mirror)
	assert.Equal(t, time.Date(2026, 7, 11, 10, 16, 37, 0, time.UTC), rel.Date)
	assert.Len(t, rel.InReleaseSHA256, 64)
	assert.Equal(t, []string{mirrorURL + "/dists/bookworm/InRelease"}, m.asked)
}

func TestResolveRelease_GoneSuiteFallsBackToStableWithNotice(t *testing.T) {
	m := servingTrixie()
	rel, err := ResolveRelease(context.Background(), m, mirrorURL, "buster", true)
	require.NoError(t, err)
	assert.Equal(t, "trixie", rel.Suite)
	assert.Equal(t, "buster", rel.Requested)
	// The codename's own InRelease, which mmdebstrap will read, not the
	// stable alias's.
	assert.Equal(t, "13.8", rel.Version)
	direct, err := ResolveRelease(context.Background(), m, mirrorURL, "trixie", false)
	require.NoError(t, err)
	assert.Equal(t, direct.InReleaseSHA256, rel.InReleaseSHA256)
	assert.Equal(t, "buster is not served by http://deb.example.org/debian; building trixie (Debian 13.8, the mirror's stable release) instead; pin a suite with --suite or TSEMLAB_DEBIAN_SUITE", rel.Fallback)
}

func TestResolveRelease_NamedSuiteNeverFallsBack(t *testing.T) {
	_, err := ResolveRelease(context.Background(), servingTrixie(), mirrorURL, "buster", false)
	require.ErrorIs(t, err, ErrNotServed)
	assert.Contains(t, err.Error(), "suite buster: http://deb.example.org/debian/dists/buster/InRelease: not served (404 Not Found); name a suite the mirror serves (its stable release is trixie)")
}

func TestResolveRelease_UnreachableMirrorIsAnErrorNotAFallback(t *testing.T) {
	m := &fakeMirror{err: errors.New("dial tcp: no route to host")}
	_, err := ResolveRelease(context.Background(), m, mirrorURL, "buster", true)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrNotServed)
	assert.Len(t, m.asked, 1)
}

func TestResolveRelease_NoStableEither(t *testing.T) {
	m := &fakeMirror{files: map[string]string{}}
	_, err := ResolveRelease(context.Background(), m, mirrorURL, "buster", true)
	require.ErrorIs(t, err, ErrNotServed)
	assert.Contains(t, err.Error(), "and neither is stable")
}

func TestResolveRelease_BadDateIsAnError(t *testing.T) {
	m := &fakeMirror{files: map[string]string{mirrorURL + "/dists/sid/InRelease": inRelease("unstable", "sid", "", "yesterday")}}
	_, err := ResolveRelease(context.Background(), m, mirrorURL, "sid", true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no valid Date: field (got "yesterday")`)
}

func TestParseRelease_SkipsArmorAndFileLists(t *testing.T) {
	f := parseRelease([]byte(inRelease("stable", "trixie", "13.8", "Sat, 21 Nov 2026 09:15:44 UTC")))
	assert.Equal(t, "trixie", f["Codename"])
	assert.Equal(t, "13.8", f["Version"])
	assert.Equal(t, "", f["SHA256"])
	assert.NotContains(t, f, "Hash")
	unsigned := parseRelease([]byte("Suite: unstable\nCodename: sid\n"))
	assert.Equal(t, "sid", unsigned["Codename"])
}

func TestHTTPFetcher_FileMirror(t *testing.T) {
	dir := t.TempDir()
	_, err := HTTPFetcher{}.Fetch(context.Background(), "file://"+dir+"/dists/buster/InRelease")
	require.ErrorIs(t, err, ErrNotServed)
	require.NoError(t, os.WriteFile(dir+"/InRelease", []byte("Codename: sid\n"), 0o644))
	b, err := HTTPFetcher{}.Fetch(context.Background(), "file://"+dir+"/InRelease")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "Codename"))
}
