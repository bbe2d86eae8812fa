package event

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// explainSamples are real records of TSEM 0f925b5b with the task_alloc
// fix (/work/shared/tsem-samples, 2026-12-01): the process-grep scenario
// and a single unlearned read, each learned and enforced in one boot.
var explainSamples = map[string]int{
	"process-grep-owner.learn.trajectory":   56,
	"process-grep-owner.enforce.forensics":  1,
	"single-unlearned.learn.trajectory":     46,
	"single-unlearned.enforce.forensics":    1,
	"learned-set.learn.trajectory":          48,
	"learned-set.enforce.forensics":         1,
	"process-grep.learn.trajectory":         69,
	"process-grep.enforce.forensics":        1,
	"process-grep-remedy.enforce.forensics": 1,
}

func TestParseAll_ExplainSamples(t *testing.T) {
	for name, n := range explainSamples {
		assert.Len(t, parseFile(t, name), n, name)
	}
}

// paths returns the paths of diffs, with "(ignored)" after those that do
// not enter the coefficient.
func paths(diffs []FieldDiff) []string {
	var out []string
	for _, d := range diffs {
		p := d.Path
		if d.Ignored != "" {
			p += " (ignored)"
		}
		out = append(out, p)
	}
	return out
}

func TestNearest_RealForensics(t *testing.T) {
	tests := []struct {
		name, learned, forensics string
		// wantNumber is the learned record's event.number.
		wantNumber              string
		samePathname, sameProc  bool
		wantCounted, wantIgnore []string
	}{
		{
			// The learn session created /root/.bash_history, so its
			// events there carry owner/instance; the enforce session's
			// open of the same file does not. Nothing else counts.
			name: "process-grep owner tag", learned: "process-grep-owner.learn.trajectory", forensics: "process-grep-owner.enforce.forensics",
			wantNumber: "102", samePathname: true, sameProc: true,
			wantCounted: []string{"file_open.file.path.owner", "file_open.file.path.instance"},
			wantIgnore:  []string{"event.context", "event.number", "event.ttd", "event.p_ttd", "event.ts"},
		},
		{
			// /etc/resolv.conf was never opened while learning; cat's
			// other open on the same tmpfs is nearest.
			name: "single unlearned read", learned: "single-unlearned.learn.trajectory", forensics: "single-unlearned.enforce.forensics",
			wantNumber: "78", samePathname: false, sameProc: true,
			wantCounted: []string{"file_open.file.path.pathname"},
			wantIgnore:  []string{"event.context", "event.ttd", "event.p_ttd", "event.ts"},
		},
		{
			// The same experiment on the earlier revision: the same tag.
			name: "process-grep, earlier kernel", learned: "process-grep.learn.trajectory", forensics: "process-grep.enforce.forensics",
			wantNumber: "125", samePathname: true, sameProc: true,
			wantCounted: []string{"file_open.file.path.owner", "file_open.file.path.instance"},
		},
		{
			name: "learned-set unlearned file", learned: "learned-set.learn.trajectory", forensics: "learned-set.enforce.forensics",
			wantNumber: "30", samePathname: false, sameProc: true,
			wantCounted: []string{"file_open.file.path.pathname"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := parseFile(t, tt.learned)
			forensic := parseFile(t, tt.forensics)[0]

			m, ok := Nearest(forensic, model)

			require.True(t, ok)
			assert.Equal(t, forensic.Hook, m.Event.Hook)
			assert.Same(t, model[m.Index], m.Event)
			assert.Equal(t, tt.samePathname, m.SamePathname)
			assert.Equal(t, tt.sameProc, m.SameProcess)
			if tt.wantNumber != "" {
				assert.Equal(t, tt.wantNumber, m.Event.Header["number"])
			}
			var counted, ignored []string
			for _, d := range m.Diffs {
				if d.Ignored == "" {
					counted = append(counted, d.Path)
				} else {
					ignored = append(ignored, d.Path)
				}
			}
			if tt.wantCounted != nil {
				assert.Equal(t, tt.wantCounted, counted)
			}
			for _, p := range tt.wantIgnore {
				assert.Contains(t, ignored, p)
			}
		})
	}
}

func TestDiff_OwnerTagPresentOnlyWhileLearning(t *testing.T) {
	model := parseFile(t, "process-grep-owner.learn.trajectory")
	forensic := parseFile(t, "process-grep-owner.enforce.forensics")[0]
	m, ok := Nearest(forensic, model)
	require.True(t, ok)

	got := Counted(m.Diffs)

	require.Len(t, got, 2)
	assert.Equal(t, FieldDiff{Path: "file_open.file.path.owner", A: "80755a19cc1b22b1880826d66228936d0dffbd001fc6419712b76d9db89197c4", InA: true}, got[0])
	assert.Equal(t, FieldDiff{Path: "file_open.file.path.instance", A: "1", InA: true}, got[1])
	assert.Equal(t, []string{
		"event.context (ignored)", "event.number (ignored)", "event.ttd (ignored)", "event.p_ttd (ignored)", "event.ts (ignored)",
		"file_open.file.path.owner", "file_open.file.path.instance",
	}, paths(m.Diffs), "owner and instance keep their place in the record")
}

func TestDiff_SameRecordIsEmpty(t *testing.T) {
	for _, e := range parseFile(t, "process-grep-owner.learn.trajectory") {
		assert.Empty(t, Diff(e, e), e.Summary())
	}
}

// record builds a file_open record with the given header, inode and path
// values; s_magic 0x1021994 is tmpfs.
func record(t *testing.T, hook, number, process, taskID, sMagic, sUUID, pathname, extra string) *Event {
	t.Helper()
	line := fmt.Sprintf(`{"event": {"context": "1", "number": %q, "process": %q, "type": %q, "ttd": "4", "p_ttd": "3", "task_id": %q, "p_task_id": "00", "ts": "9"}, `+
		`"COE": {"uid": "0", "euid": "0", "suid": "0", "gid": "0", "egid": "0", "sgid": "0", "fsuid": "0", "fsgid": "0", "capeff": "0x1"}, `+
		`%q: {"file": {"flags": "32768", "inode": {"uid": "0", "s_magic": %q, "s_uuid": %q}, "path": {"pathname": %q%s}}}}`,
		number, process, hook, taskID, hook, sMagic, sUUID, pathname, extra)
	e, err := Parse([]byte(line))
	require.NoError(t, err, line)
	return e
}

func TestDiff_WhatEntersTheCoefficient(t *testing.T) {
	base := record(t, "file_open", "1", "cat", "aa", "0x1021994", "11", "/etc/hostname", "")
	tests := []struct {
		name  string
		other *Event
		want  []string
	}{
		{"header bookkeeping and comm are ignored", record(t, "file_open", "7", "dog", "aa", "0x1021994", "11", "/etc/hostname", ""),
			[]string{"event.number (ignored)", "event.process (ignored)"}},
		{"task_id counts", record(t, "file_open", "1", "cat", "bb", "0x1021994", "11", "/etc/hostname", ""),
			[]string{"event.task_id"}},
		{"tmpfs s_uuid is ignored", record(t, "file_open", "1", "cat", "aa", "0x1021994", "22", "/etc/hostname", ""),
			[]string{"file_open.file.inode.s_uuid (ignored)"}},
		{"ext4 s_uuid counts", record(t, "file_open", "1", "cat", "aa", "0xef53", "22", "/etc/hostname", ""),
			[]string{"file_open.file.inode.s_magic", "file_open.file.inode.s_uuid"}},
		{"a field in one record only", record(t, "file_open", "1", "cat", "aa", "0x1021994", "11", "/etc/hostname", `, "owner": "aa", "instance": "1"`),
			[]string{"file_open.file.path.owner", "file_open.file.path.instance"}},
		{"generic hook's arguments are ignored", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.other == nil {
				a := record(t, "task_alloc", "1", "cat", "aa", "0x1021994", "11", "/a", "")
				b := record(t, "task_alloc", "1", "cat", "aa", "0xef53", "22", "/b", "")
				assert.Equal(t, []string{"task_alloc.file.inode.s_magic (ignored)", "task_alloc.file.inode.s_uuid (ignored)", "task_alloc.file.path.pathname (ignored)"}, paths(Diff(a, b)))
				assert.Empty(t, Counted(Diff(a, b)))
				return
			}
			assert.Equal(t, tt.want, paths(Diff(base, tt.other)))
		})
	}
}

func TestDiff_PathTypeOfADentryIsIgnored(t *testing.T) {
	getattr := func(typ string) *Event {
		line := `{"event": {"type": "inode_getattr", "task_id": "aa"}, "COE": {"uid": "0"}, "inode_getattr": {"path": {"path": {"dev": {"major": "0", "minor": "2"}, "type": "` + typ + `", "pathname": "/x"}}}}`
		e, err := Parse([]byte(line))
		require.NoError(t, err)
		return e
	}
	open := func(typ string) *Event {
		line := `{"event": {"type": "file_open", "task_id": "aa"}, "COE": {"uid": "0"}, "file_open": {"file": {"flags": "0", "path": {"type": "` + typ + `", "pathname": "/x"}}}}`
		e, err := Parse([]byte(line))
		require.NoError(t, err)
		return e
	}

	assert.Equal(t, []string{"inode_getattr.path.path.type (ignored)"}, paths(Diff(getattr("root"), getattr("chroot"))))
	assert.Equal(t, []string{"file_open.file.path.type"}, paths(Diff(open("root"), open("chroot"))))
}

func TestDiff_DifferentHooks(t *testing.T) {
	a := record(t, "file_open", "1", "cat", "aa", "0x1021994", "11", "/x", "")
	b := record(t, "file_fcntl", "1", "cat", "aa", "0x1021994", "11", "/x", "")

	got := paths(Diff(a, b))

	assert.Equal(t, "event.type", got[0])
	assert.Contains(t, got, "file_open.file.path.pathname")
	assert.Contains(t, got, "file_fcntl.file.path.pathname")
}

func TestNearest_NoRecordOfTheHook(t *testing.T) {
	model := parseFile(t, "single-unlearned.learn.trajectory")
	e := record(t, "inode_create", "1", "cat", "aa", "0x1021994", "11", "/x", "")

	_, ok := Nearest(e, model)

	assert.False(t, ok)
}

func TestNearest_TiesKeepTheFirst(t *testing.T) {
	a := record(t, "file_open", "1", "cat", "aa", "0x1021994", "11", "/a", "")
	b := record(t, "file_open", "2", "cat", "aa", "0x1021994", "11", "/b", "")
	e := record(t, "file_open", "3", "cat", "aa", "0x1021994", "11", "/c", "")

	m, ok := Nearest(e, []*Event{a, b})

	require.True(t, ok)
	assert.Equal(t, 0, m.Index)
	assert.Equal(t, 1, m.Ties)
}

func TestNearest_PathnameBeforeProcessBeforeFieldCount(t *testing.T) {
	e := record(t, "file_open", "1", "cat", "aa", "0x1021994", "11", "/etc/x", "")
	sameProcFewerDiffs := record(t, "file_open", "1", "cat", "aa", "0x1021994", "11", "/etc/y", "")
	samePathOtherProc := record(t, "file_open", "1", "dog", "bb", "0xef53", "22", "/etc/x", "")
	otherProcNoDiff := record(t, "file_open", "1", "dog", "aa", "0x1021994", "11", "/etc/z", "")

	m, _ := Nearest(e, []*Event{sameProcFewerDiffs, otherProcNoDiff, samePathOtherProc})
	assert.Equal(t, 2, m.Index, "the same pathname wins over everything")

	m, _ = Nearest(e, []*Event{otherProcNoDiff, sameProcFewerDiffs})
	assert.Equal(t, 1, m.Index, "then the same process")
}

func FuzzDiff(f *testing.F) {
	for _, name := range []string{"process-grep-owner.learn.trajectory", "single-unlearned.enforce.forensics"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		first, _, _ := bytes.Cut(data, []byte("\n"))
		f.Add(first, first)
	}
	f.Add([]byte(`{"event": {"type": "x"}, "COE": {}, "x": {"a": {"s_magic": "0x1021994", "s_uuid": "1"}}}`),
		[]byte(`{"event": {"type": "x", "n": "2"}, "COE": {"z": "1"}, "x": {"a": {"s_magic": "01021994", "s_uuid": "2"}, "b": [1]}}`))
	f.Fuzz(func(t *testing.T, la, lb []byte) {
		a, err := Parse(la)
		if err != nil {
			return
		}
		b, err := Parse(lb)
		if err != nil {
			return
		}
		assert.Empty(t, Diff(a, a))
		ab, ba := Diff(a, b), Diff(b, a)
		assert.Equal(t, len(ab), len(ba), "a difference is a difference both ways")
		seen := map[string]bool{}
		for _, d := range ab {
			if a.Hook == b.Hook {
				assert.False(t, seen[d.Path], "each field once: %s", d.Path)
			}
			seen[d.Path] = true
			assert.True(t, d.InA || d.InB)
			assert.False(t, strings.HasSuffix(d.Path, "."))
		}
		m, ok := Nearest(b, []*Event{a, b})
		if ok {
			assert.Empty(t, Counted(m.Diffs), "b is in the model")
		}
	})
}
