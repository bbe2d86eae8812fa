package rootfs

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

// trixie is a fixed release for command-line and key tests.
var trixie = &Release{
	Mirror:          "http://deb.debian.org/debian",
	Requested:       "buster",
	Suite:           "trixie",
	Version:         "13.8",
	Date:            time.Date(2026, 11, 21, 9, 15, 44, 0, time.UTC),
	InReleaseSHA256: strings.Repeat("ab", 32),
}

func mustParse(t *testing.T, file, text string) *Definition {
	t.Helper()
	def, err := Parse(file, []byte(text))
	require.NoError(t, err)
	return def
}

func TestMmdebstrapArgv_ShippedDefinitionsGolden(t *testing.T) {
	if Arch() != "amd64" {
		t.Skipf("golden command lines are for amd64; this host is %s", Arch())
	}
	for _, name := range []string{"debian-minimal", "httpd"} {
		t.Run(name, func(t *testing.T) {
			def, err := Load(filepath.Join(shipped, name+".yaml"))
			require.NoError(t, err)
			argv := MmdebstrapArgv(def, trixie, "/cache/images/.build-x/stage", "/cache/images/.build-x/root")
			testutil.Golden(t, "testdata/golden/mmdebstrap-"+name+".golden", []byte(strings.Join(argv, "\n")+"\n"))
		})
	}
}

func TestMkfsArgv_Golden(t *testing.T) {
	argv := MkfsArgv(strings.Repeat("0123456789abcdef", 4), trixie.Date.Unix(), "/b/root", "/b/image.erofs")
	testutil.Golden(t, "testdata/golden/mkfs.golden", []byte(strings.Join(argv, "\n")+"\n"))
}

func TestMmdebstrapArgv_QuotesWhatItPassesToTheShell(t *testing.T) {
	def := mustParse(t, "q.yaml", "name: q\ncustomize: ['echo \"it''s\" > /x']\n")
	require.Equal(t, []string{`echo "it's" > /x`}, def.Customize)
	argv := MmdebstrapArgv(def, trixie, "/s", "/r")
	assert.Contains(t, argv, `--customize-hook=chroot "$1" /bin/sh -c 'echo "it'\''s" > /x'`)
	assert.Equal(t, []string{"trixie", "/r", "http://deb.debian.org/debian"}, argv[len(argv)-3:])
}

const keyBase = `name: k
suite: buster
packages: [bash, procps]
users:
  - {name: rocinante, uid: 1000}
files:
  - {path: /etc/motd, content: hi}
`

func TestKey_SameForLayoutCommentsAndDescription(t *testing.T) {
	base := Key(mustParse(t, "k.yaml", keyBase), trixie)
	same := map[string]string{
		"comments and blank lines": "# a comment\n\n" + strings.ReplaceAll(keyBase, "\n", "  # note\n"),
		"block style": `name: k
suite: buster
packages:
  - bash
  - procps
users:
  - name: rocinante
    uid: 1000
    shell: /bin/bash
files:
  - path: /etc/motd
    mode: "0644"
    content: hi
`,
		"description": keyBase + "description: words that do not change the image\n",
	}
	for name, text := range same {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, base, Key(mustParse(t, "k.yaml", text), trixie))
		})
	}
}

func TestKey_ChangesWithTheDefinitionAndTheArchive(t *testing.T) {
	base := Key(mustParse(t, "k.yaml", keyBase), trixie)
	changed := map[string]string{
		"package added":     strings.Replace(keyBase, "[bash, procps]", "[bash, procps, apache2]", 1),
		"package order":     strings.Replace(keyBase, "[bash, procps]", "[procps, bash]", 1),
		"suite":             strings.Replace(keyBase, "buster", "bookworm", 1),
		"variant":           keyBase + "variant: standard\n",
		"uid":               strings.Replace(keyBase, "1000", "1001", 1),
		"file content":      strings.Replace(keyBase, "content: hi", "content: ho", 1),
		"file mode":         strings.Replace(keyBase, "content: hi", "content: hi, mode: \"0600\"", 1),
		"customize command": keyBase + "customize: [touch /x]\n",
		"entrypoint":        keyBase + "entrypoint: [/bin/sh]\n",
	}
	seen := map[string]string{base: "base"}
	for name, text := range changed {
		t.Run(name, func(t *testing.T) {
			k := Key(mustParse(t, "k.yaml", text), trixie)
			prev, dup := seen[k]
			assert.False(t, dup, "same key as %s", prev)
			seen[k] = name
		})
	}
	def := mustParse(t, "k.yaml", keyBase)
	for name, rel := range map[string]Release{
		"archive updated": {Mirror: trixie.Mirror, Suite: "trixie", InReleaseSHA256: strings.Repeat("cd", 32)},
		"other mirror":    {Mirror: "http://ftp.de.debian.org/debian", Suite: "trixie", InReleaseSHA256: trixie.InReleaseSHA256},
	} {
		t.Run(name, func(t *testing.T) {
			assert.NotEqual(t, base, Key(def, &rel))
		})
	}
}

func TestKey_FallbackNoticeAndDatesDoNotCount(t *testing.T) {
	def := mustParse(t, "k.yaml", keyBase)
	rel := *trixie
	rel.Fallback, rel.Requested, rel.Version = "", "trixie", "13.8.1"
	assert.Equal(t, Key(def, trixie), Key(def, &rel))
}
