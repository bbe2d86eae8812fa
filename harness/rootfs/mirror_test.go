package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSourcesList(t *testing.T) {
	got := ParseSourcesList(`# comment
deb http://deb.debian.org/debian bookworm main contrib # trailing
deb-src http://deb.debian.org/debian bookworm main
deb [ arch=amd64 signed-by=/usr/share/keyrings/x.gpg ] https://mirror.example/debian/ trixie main
deb [trusted=yes] file:/srv/mirror sid main
deb cdrom:[Debian]/ bookworm main
deb broken
`)
	assert.Equal(t, []Source{
		{URI: "http://deb.debian.org/debian", Suites: []string{"bookworm"}, Components: []string{"main", "contrib"}},
		{URI: "https://mirror.example/debian/", Suites: []string{"trixie"}, Components: []string{"main"}},
		{URI: "file:/srv/mirror", Suites: []string{"sid"}, Components: []string{"main"}},
		{URI: "cdrom:[Debian]/", Suites: []string{"bookworm"}, Components: []string{"main"}},
	}, got)
}

func TestParseDeb822Sources(t *testing.T) {
	got := ParseDeb822Sources(`Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: https://off.example/debian
Suites: trixie
Components: main
Enabled: no

Types: deb-src
URIs: https://src.example/debian
Suites: trixie
Components: main
`)
	assert.Equal(t, []Source{
		{URI: "http://deb.debian.org/debian", Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}},
		{URI: "http://deb.debian.org/debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
	}, got)
}

func TestPickMirror(t *testing.T) {
	tests := []struct {
		name    string
		sources []Source
		want    string
	}{
		{"none", nil, ""},
		{"security and updates only", []Source{
			{URI: "http://deb.debian.org/debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
			{URI: "http://deb.debian.org/debian", Suites: []string{"bookworm-updates"}, Components: []string{"main"}},
		}, ""},
		{"the release entry after security", []Source{
			{URI: "http://deb.debian.org/debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
			{URI: "http://deb.debian.org/debian/", Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}},
		}, "http://deb.debian.org/debian"},
		{"a URI ending in /debian wins over an earlier one", []Source{
			{URI: "https://packages.example.com/apt", Suites: []string{"cloud"}, Components: []string{"main"}},
			{URI: "http://ftp.de.debian.org/debian", Suites: []string{"trixie"}, Components: []string{"main"}},
		}, "http://ftp.de.debian.org/debian"},
		{"else the first release entry with main", []Source{
			{URI: "http://mirror.local/deb", Suites: []string{"trixie"}, Components: []string{"contrib"}},
			{URI: "http://mirror.local/archive", Suites: []string{"trixie"}, Components: []string{"main"}},
		}, "http://mirror.local/archive"},
		{"not cdrom", []Source{{URI: "cdrom:[Debian]/", Suites: []string{"bookworm"}, Components: []string{"main"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PickMirror(tt.sources))
		})
	}
}

func TestAptSources_ReadsListAndSourcesFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sources.list.d", "debian.sources"), []byte("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sources.list.d", "cloud.list.disabled"), []byte("deb http://x.example/debian bookworm main\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sources.list.d", "a.list"), []byte("deb http://a.example/apt stable main\n"), 0o644))
	got := AptSources(dir)
	require.Len(t, got, 2)
	assert.Equal(t, "http://a.example/apt", got[0].URI)
	assert.Equal(t, "http://deb.debian.org/debian", PickMirror(got))
}

func TestMirror_EnvironmentWins(t *testing.T) {
	t.Setenv(EnvMirror, "http://env.example/debian/")
	assert.Equal(t, "http://env.example/debian", Mirror())
}
