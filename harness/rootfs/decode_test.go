package rootfs

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

// golden compares got with the file at path, or writes it with -update.

// shipped is the images/ directory of this checkout.
const shipped = "../../images"

func TestLoadDir_ShippedDefinitionsAreValid(t *testing.T) {
	defs, err := LoadDir(shipped)
	require.NoError(t, err)
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
	}
	assert.Equal(t, []string{"debian-minimal", "httpd"}, names)
}

func TestLoad_ShippedDebianMinimal(t *testing.T) {
	def, err := Load(filepath.Join(shipped, "debian-minimal.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "buster", def.Suite)
	assert.Equal(t, "minbase", def.Variant)
	assert.Equal(t, []string{"bash", "coreutils", "procps"}, def.Packages)
	assert.Equal(t, []User{{Name: "rocinante", UID: 1000, Shell: "/bin/bash"}}, def.Users)
	assert.Empty(t, def.Entrypoint)
}

func TestLoad_ShippedHTTPDServesAFixedPageInTheForeground(t *testing.T) {
	def, err := Load(filepath.Join(shipped, "httpd.yaml"))
	require.NoError(t, err)
	assert.Contains(t, def.Packages, "apache2")
	assert.Equal(t, []string{"apache2ctl", "-D", "FOREGROUND"}, def.Entrypoint)
	require.NotEmpty(t, def.Files)
	assert.Equal(t, "/var/www/html/index.html", def.Files[0].Path)
	assert.Contains(t, def.Files[0].Content, "tsemlab httpd")
}

func TestLoad_DecodesEveryField(t *testing.T) {
	def, err := Load("testdata/good/full.yaml")
	require.NoError(t, err)
	assert.Equal(t, &Definition{
		File:        "testdata/good/full.yaml",
		Name:        "full",
		Description: "every field",
		Suite:       "bookworm",
		Variant:     "standard",
		Packages:    []string{"bash", "apache2"},
		Users: []User{
			{Name: "rocinante", UID: 1000, Shell: "/bin/bash"},
			{Name: "sancho", UID: 1001, Shell: "/bin/sh"},
		},
		Files: []File{
			{Path: "/etc/motd", Mode: 0o644, Content: "hello\n"},
			{Path: "/usr/local/bin/hi", Mode: 0o755, Content: "#!/bin/sh\necho hi\n"},
			{Path: "/srv/empty", Mode: 0o600, Content: ""},
		},
		Customize:  []string{"echo it's done > /etc/done"},
		Entrypoint: []string{"/usr/local/bin/hi", "--loud"},
	}, def)
}

func TestLoad_DefaultsFillWhatIsLeftOut(t *testing.T) {
	def, err := Load("testdata/good/minimal.yaml")
	require.NoError(t, err)
	assert.Equal(t, DefaultSuite, def.Suite)
	assert.Equal(t, DefaultVariant, def.Variant)
	assert.Empty(t, def.Packages)
}

func TestLoad_BadDefinitionsReportGoldenErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			def, err := Load(f)
			require.Error(t, err)
			assert.Nil(t, def)
			var errs ValidationErrors
			require.ErrorAs(t, err, &errs)
			for _, e := range errs {
				assert.Equal(t, f, e.File)
			}
			testutil.Golden(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

func TestLoad_UnknownFieldReportsLineColumnAndFix(t *testing.T) {
	tests := []struct {
		file      string
		line, col int
		contains  string
	}{
		{"testdata/bad/unknown-field.yaml", 2, 1, `unknown field "pakages" in an image definition; did you mean "packages"? (allowed: name, description, suite, variant, packages, users, files, customize, entrypoint)`},
		{"testdata/bad/unknown-user-field.yaml", 3, 34, `unknown field "shel" in a user; did you mean "shell"?`},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			_, err := Load(tt.file)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.line, ve.Line)
			assert.Equal(t, tt.col, ve.Col)
			assert.Contains(t, ve.Msg, tt.contains)
		})
	}
}

func TestFind_UnknownNameSuggestsTheNearest(t *testing.T) {
	_, err := Find(shipped, "debian-minimall")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `did you mean "debian-minimal"?`)
	assert.Contains(t, err.Error(), "defined: debian-minimal, httpd")
}

func TestFind_KnownName(t *testing.T) {
	def, err := Find(shipped, "httpd")
	require.NoError(t, err)
	assert.Equal(t, "httpd", def.Name)
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	assert.EqualError(t, err, "testdata/nope.yaml: file does not exist; check the path")
}

func TestSelect_AllOrTheNamedOnes(t *testing.T) {
	all, err := Select(shipped, nil)
	require.NoError(t, err)
	assert.Len(t, all, 2)
	one, err := Select(shipped, []string{"httpd"})
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, "httpd", one[0].Name)
	_, err = Select(shipped, []string{"httpd", "nosuch"})
	assert.ErrorContains(t, err, `no image definition "nosuch"`)
}
