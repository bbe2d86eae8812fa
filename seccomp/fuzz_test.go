package seccomp

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that errors have
// positions inside the input, and that what it accepts assembles and
// survives a round trip.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a profile with an error")
			}
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			for _, e := range es {
				if e.Line < 1 || e.Col < 1 || e.Msg == "" {
					t.Fatalf("error without position or text: %+v", e)
				}
			}
			return
		}
		if _, err := p.Filter(); err != nil {
			t.Fatalf("valid profile does not assemble: %v", err)
		}
		back, err := Parse(p.Marshal())
		if err != nil {
			t.Fatalf("a valid profile's encoding does not parse: %v\n%s", err, p.Marshal())
		}
		if string(back.Marshal()) != string(p.Marshal()) {
			t.Fatalf("round trip changed the profile:\n%s\n%s", p.Marshal(), back.Marshal())
		}
	})
}

// FuzzParseAudit checks that no kernel log line makes ParseAudit panic.
func FuzzParseAudit(f *testing.F) {
	f.Add(`audit: type=1326 audit(1.2:3): pid=9 comm="chmod" exe="/bbin/bb" sig=0 arch=c000003e syscall=268 compat=0 ip=0x1 code=0x50001`)
	f.Add(`type=1326 arch=40000003 syscall=-1 code=0x0`)
	f.Fuzz(func(t *testing.T, line string) {
		if a, ok := ParseAudit(line); ok {
			_ = a.String()
		}
	})
}
