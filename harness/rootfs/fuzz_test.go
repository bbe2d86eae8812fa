package rootfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse checks that no input makes Parse panic or hang, and that what
// it accepts has a key and a command line.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(shipped, "*.yaml"))
	for _, file := range append(files, more...) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &a [*a]"))
	rel := &Release{Mirror: DefaultMirror, Suite: "trixie", InReleaseSHA256: "00"}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		def, err := Parse("testdata/good/fuzz.yaml", data)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Parse took %v", d)
		}
		if err != nil {
			if def != nil {
				t.Fatal("Parse returned a definition with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if def.Name != "fuzz" {
			t.Fatalf("accepted name %q for fuzz.yaml", def.Name)
		}
		if len(Key(def, rel)) != 64 || len(MmdebstrapArgv(def, rel, "/stage", "/root")) == 0 {
			t.Fatal("no key or command line")
		}
	})
}
