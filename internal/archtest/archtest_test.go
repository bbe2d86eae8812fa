// Package archtest checks the architecture rules no compiler checks: which
// way imports run between host, guest and the shared vocabulary, and that
// functions stay short enough to hold in one's head.
package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/image"
)

const module = "github.com/tsemlab/tsemlab/"

// maxFuncLines is the longest a function may be in the packages below.
const maxFuncLines = 80

// sizeChecked are the trees whose functions must stay under maxFuncLines.
var sizeChecked = []string{"harness", "orchestrator", "protocol", "model", "event", "seccomp"}

// file is one parsed non-test Go file of the module.
type file struct {
	path string // relative to the module root
	fset *token.FileSet
	ast  *ast.File
}

func sources(t *testing.T) []file {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	var out []file
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, file{path: filepath.ToSlash(rel), fset: fset, ast: f})
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

func imports(f file) []string {
	var out []string
	for _, im := range f.ast.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if strings.HasPrefix(p, module) {
			out = append(out, strings.TrimPrefix(p, module))
		}
	}
	return out
}

func TestImports_RunOneWay(t *testing.T) {
	rules := []struct {
		from, mustNot, why string
	}{
		{"orchestrator/", "harness/", "the guest never imports the host"},
		{"harness/", "orchestrator", "the host never imports the guest (the image builds it by path)"},
		{"protocol/", "", "the shared vocabulary imports nothing of the module"},
		{"harness/scenario/", "harness/result", "a scenario is validated data; judging is package judge's"},
		{"harness/qemu/", "protocol", "qemu starts QEMU; what the guest says is qevent's"},
		{"model/", "harness/", "the model format is shared by host and guest"},
		{"event/", "harness/", "the event format is shared by host and guest"},
		{"seccomp/", "harness/", "the seccomp profile format is shared by host and guest"},
		{"seccomp/", "orchestrator", "the seccomp profile format is shared by host and guest"},
	}
	for _, f := range sources(t) {
		for _, r := range rules {
			if !strings.HasPrefix(f.path, r.from) {
				continue
			}
			for _, im := range imports(f) {
				assert.False(t, strings.HasPrefix(im, r.mustNot), "%s imports %s: %s", f.path, im, r.why)
			}
		}
	}
}

func TestFunctions_AreShort(t *testing.T) {
	for _, f := range sources(t) {
		checked := false
		for _, dir := range sizeChecked {
			checked = checked || strings.HasPrefix(f.path, dir+"/")
		}
		if !checked {
			continue
		}
		for _, d := range f.ast.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			lines := f.fset.Position(fn.End()).Line - f.fset.Position(fn.Pos()).Line + 1
			assert.LessOrEqual(t, lines, maxFuncLines, "%s: func %s is %d lines; split it", f.path, fn.Name.Name, lines)
		}
	}
}

func TestPackages_SayWhatTheyAre(t *testing.T) {
	docs := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range sources(t) {
		dir := filepath.Dir(f.path)
		dirs[dir] = true
		if f.ast.Doc != nil && strings.HasPrefix(f.ast.Doc.Text(), "Package "+f.ast.Name.Name+" ") || f.ast.Doc != nil && f.ast.Name.Name == "main" {
			docs[dir] = true
		}
	}
	for dir := range dirs {
		if _, err := os.Stat(filepath.Join("../..", dir)); err == nil {
			assert.True(t, docs[dir], "package %s has no doc comment saying what it is (// Package x ...)", dir)
		}
	}
}

// TestGuestBinaries_LinkLittle: every package a Go program links runs its
// initializers when the program starts, and under TCG that is boot time
// (and, for tsemlab-guest, the start of every step's helper). net/http
// alone, through crypto/tls, cost 0.1 s per start; the guest's init is
// measured against a one-line init.
func TestGuestBinaries_LinkLittle(t *testing.T) {
	deps := func(pkg string) []string {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Fields(string(out))
	}
	std := func(pkg string) []string {
		cmd := exec.Command("go", "list", "-deps", pkg)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Fields(string(out))
	}
	for _, heavy := range []string{"net/http", "crypto/tls", "crypto/x509"} {
		assert.NotContains(t, std("./cmd/tsemlab-guest"), heavy, "tsemlab-guest links %s", heavy)
	}
	assert.ElementsMatch(t, []string{"golang.org/x/sys/unix", module + "orchestrator/guestinit", module + "cmd/tsemlab-init"},
		deps("./cmd/tsemlab-init"), "tsemlab-init links only the standard library and x/sys/unix")
}

// TestGuestBinary_SourcesAreInTheImageKey: every package of this module
// the guest binary, its init or the busybox's mainthread command links is
// under image.GuestSourceDirs, whose files key the cached initramfs; a
// package outside them could change without the image being rebuilt.
func TestGuestBinary_SourcesAreInTheImageKey(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/tsemlab-guest", "./"+strings.TrimPrefix(image.InitCommand, module), "./"+strings.TrimPrefix(image.MainThreadCommand, module))
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	for _, pkg := range strings.Fields(string(out)) {
		rel, ok := strings.CutPrefix(pkg, module)
		if !ok {
			continue
		}
		covered := false
		for _, d := range image.GuestSourceDirs {
			covered = covered || rel == d || strings.HasPrefix(rel, d+"/")
		}
		assert.True(t, covered, "the guest links %s, which image.GuestSourceDirs leaves out of the image key", rel)
	}
}
