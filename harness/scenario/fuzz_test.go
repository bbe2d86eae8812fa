package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic and that whatever it
// accepts can be planned.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*/*.y*ml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("name: x\nphases: [{<<: [*a]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The work Parse may do is bounded by its alias budget (see the
		// hostile corpus), not by a clock.
		s, err := Parse("testdata/good/fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatal("Parse returned a scenario with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		p := s.Plan(PlanOptions{TimeoutScale: 3})
		if len(p.Phases) != len(s.Phases) || len(p.Phases) == 0 {
			t.Fatalf("plan has %d phases, scenario %d", len(p.Phases), len(s.Phases))
		}
		for _, ph := range p.Phases {
			if len(ph.Steps) == 0 || len(ph.Shell) == 0 {
				t.Fatalf("phase %s planned without steps or shell", ph.Name)
			}
			for _, st := range ph.Steps {
				if st.Timeout <= 0 || st.Run == "" {
					t.Fatalf("step %d of %s: timeout %v, run %q", st.Index, ph.Name, st.Timeout, st.Run)
				}
			}
		}
		_ = s.TotalTimeout(PlanOptions{})
	})
}
