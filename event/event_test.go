package event

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

// samples are real records of a TSEM 6.12 kernel (see
// /work/shared/tsem-samples) and their record counts.
var samples = map[string]int{
	"learned-set.learn.trajectory":          48,
	"learned-set.enforce.trajectory":        7,
	"learned-set.enforce.forensics":         1,
	"process-grep.learn.trajectory":         69,
	"process-grep.enforce.forensics":        1,
	"process-grep-remedy.enforce.forensics": 1,
	"seal-only.forensics":                   2,
}

func parseFile(t *testing.T, name string) []*Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	events, err := ParseAll(f)
	require.NoError(t, err)
	return events
}

func TestParseAll_EveryRealRecord(t *testing.T) {
	for name, count := range samples {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			require.NoError(t, err)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")

			events := parseFile(t, name)

			require.Len(t, events, count)
			for i, e := range events {
				assert.Equal(t, lines[i], string(e.Raw), "Raw keeps the line")
				assert.Equal(t, KindEvent, e.Kind)
				assert.False(t, e.Exported)
				assert.False(t, e.Text)
				assert.Equal(t, e.Header["type"], e.Type())
				assert.NotEmpty(t, e.Process())
				assert.NotEmpty(t, e.CELL, "every sample hook has arguments")
				assert.Len(t, e.COE, 9)
				assert.Equal(t, "0x1ffffffffff", e.COE["capeff"])
				for _, k := range []string{"context", "number", "ttd", "p_ttd", "task_id", "p_task_id", "ts"} {
					assert.Contains(t, e.Header, k)
				}
			}
		})
	}
}

func TestSummary_AllRealRecords(t *testing.T) {
	for name := range samples {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, e := range parseFile(t, name) {
				b.WriteString(e.Summary())
				b.WriteByte('\n')
			}
			testutil.Golden(t, filepath.Join("testdata", name+".summary.golden"), []byte(b.String()))
		})
	}
}

func TestFields_FileOpenForensicsRecord(t *testing.T) {
	events := parseFile(t, "process-grep.enforce.forensics")
	require.Len(t, events, 1)
	e := events[0]

	f := e.Fields()

	want := map[string]string{
		"type":                         "file_open",
		"kind":                         "event",
		"process":                      "bash",
		"event.process":                "bash",
		"pathname":                     "/root/.bash_history",
		"file.path.pathname":           "/root/.bash_history",
		"file_open.file.path.pathname": "/root/.bash_history",
		"file.inode.mode":              "0100600",
		"flags":                        "32768",
		"digest":                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"uid":                          "0",
		"COE.uid":                      "0",
		"capeff":                       "0x1ffffffffff",
		"context":                      "5",
		"task_id":                      "943ceb39137a29d2a32d1eec95a4a6bace6bb86b16f0f98ae3dbfebfe19be12c",
		"file.path.dev.minor":          "2",
		"file_open.file.inode.s_magic": "0x1021994",
	}
	for k, v := range want {
		assert.Equal(t, v, f[k], k)
	}
	f["type"] = "changed"
	assert.Equal(t, "file_open", e.Type(), "Fields returns a copy")
}

func TestFields_SocketAliases(t *testing.T) {
	var connect, create *Event
	for _, e := range parseFile(t, "process-grep.learn.trajectory") {
		switch e.Type() {
		case "socket_connect":
			connect = e
		case "socket_create":
			create = e
		}
	}
	require.NotNil(t, connect)
	require.NotNil(t, create)

	assert.True(t, connect.Match(map[string]string{"type": "socket_connect", "family": "1", "address": "/var/run/nscd/socket"}))
	assert.Equal(t, "bash  socket_connect  unix /var/run/nscd/socket (uid 0)", connect.Summary())

	cf := create.Fields()
	assert.Equal(t, "socket_create", cf["type"], "the hook wins over the CELL's own type")
	assert.Equal(t, "1", cf["socket_create.type"])
	assert.Equal(t, "1", cf["family"])
	assert.Equal(t, "bash  socket_create  unix stream (uid 0)", create.Summary())
}

func TestMatch(t *testing.T) {
	e := parseFile(t, "learned-set.enforce.forensics")[0]
	tests := []struct {
		name string
		want map[string]string
		ok   bool
	}{
		{"empty matches", nil, true},
		{"short aliases", map[string]string{"type": "file_open", "process": "cat", "pathname": "/etc/debian_version"}, true},
		{"dotted key", map[string]string{"file.path.pathname": "/etc/debian_version", "COE.euid": "0"}, true},
		{"hook-prefixed key", map[string]string{"file_open.file.flags": "32768"}, true},
		{"exact, not prefix", map[string]string{"pathname": "/etc/debian"}, false},
		{"pattern", map[string]string{"pathname": "/etc/debian_*"}, true},
		{"pattern, whole value", map[string]string{"pathname": "/etc/deb*an"}, false},
		{"pattern does not cross /", map[string]string{"pathname": "/*_version"}, false},
		{"bad pattern matches nothing", map[string]string{"pathname": "/etc/debian_[version"}, false},
		{"wrong hook", map[string]string{"type": "file_fcntl"}, false},
		{"missing key", map[string]string{"address": ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.ok, e.Match(tt.want))
		})
	}
}

func TestParse_ExportWrappers(t *testing.T) {
	real := parseFile(t, "learned-set.enforce.forensics")[0]
	body := strings.TrimPrefix(string(real.Raw), "{")
	tests := []struct {
		name    string
		line    string
		kind    string
		typ     string
		summary string
	}{
		{"event", `{"export": {"type": "event"}, ` + body, KindEvent, "file_open",
			"cat  file_open  /etc/debian_version (flags 0100000, uid 0)"},
		{"async event", `{"export": {"type": "async_event"}, ` + body, KindAsync, "file_open",
			"cat  file_open  /etc/debian_version (flags 0100000, uid 0)  [async]"},
		{"aggregate", `{"export": {"type": "aggregate"}, "aggregate": {"value": "0000"}}`, KindAggregate, "aggregate",
			"aggregate  0000"},
		{"log", `{"export": {"type": "log"}, "log": {"process": "bash", "event": "task_alloc", "action": "DENY"}}`, KindLog, "task_alloc",
			"bash  task_alloc  untrusted task, action DENY"},
		{"bare log", `{"log": {"process": "cat", "event": "file_open", "action": "LOG"}}`, KindLog, "file_open",
			"cat  file_open  untrusted task, action LOG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse([]byte(tt.line + "\n"))
			require.NoError(t, err)
			assert.Equal(t, tt.kind, e.Kind)
			assert.Equal(t, tt.typ, e.Type())
			assert.Equal(t, tt.summary, e.Summary())
			assert.Equal(t, tt.line, string(e.Raw))
		})
	}
}

func TestParse_ExportedEventKeepsPidAndTnum(t *testing.T) {
	line := `{"export": {"type": "event"}, "event": {"pid": "72", "tnum": "9", "context": "2", "number": "3", "process": "bash", "type": "task_alloc", "ttd": "1", "p_ttd": "0", "task_id": "00", "p_task_id": "00", "ts": "5"}, "COE": {"uid": "1000"}, "task_alloc": {}}`
	e, err := Parse([]byte(line))
	require.NoError(t, err)
	assert.True(t, e.Exported)
	assert.True(t, e.Match(map[string]string{"pid": "72", "tnum": "9", "uid": "1000"}))
	assert.Equal(t, "bash  task_alloc", e.Summary())
}

func TestParse_LegacyTextRecords(t *testing.T) {
	tests := []struct {
		name, line, typ, summary string
		fields                   map[string]string
	}{
		{"socket_create",
			"event{process=runc, filename=none, type=socket_create, task_id=0000} COE{uid=0, euid=0, suid=0, gid=0, egid=0, sgid=0, fsuid=0, fsgid=0, cap=0x3fffffffff} socket_create{family=1, type=1, protocol=00, kern=0}",
			"socket_create", "runc  socket_create  unix stream (uid 0)",
			map[string]string{"family": "1", "socket_create.type": "1", "cap": "0x3fffffffff"}},
		{"file_open with pid",
			"pid{1186} event{process=quixote-us, filename=/opt/Quixote/bin/runc, type=file_open, task_id=0000} COE{uid=0, euid=0, suid=0, gid=0, egid=0, sgid=0, fsuid=0, fsgid=0, cap=0x3ffffffffff} file{flags=32800, uid=2, gid=2, mode=0100755, name_length=21, name=4829ead9, s_magic=0xef53, s_id=xvda, s_uuid=feadbeaf, digest=7c1a43eb}",
			"file_open", "quixote-us  file_open  /opt/Quixote/bin/runc (uid 0)",
			map[string]string{"pid": "1186", "file.flags": "32800", "flags": "32800", "digest": "7c1a43eb", "file.name": "4829ead9"}},
		{"generic event",
			"event{process=bash, filename=none, type=generic_event, task_id=00} COE{uid=0, euid=0, suid=0, gid=0, egid=0, sgid=0, fsuid=0, fsgid=0, cap=0x0} generic_event{type=task_setpgid}",
			"task_setpgid", "bash  task_setpgid",
			map[string]string{"generic_event.type": "task_setpgid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse([]byte(tt.line))
			require.NoError(t, err)
			assert.True(t, e.Text)
			assert.Equal(t, tt.typ, e.Type())
			assert.Equal(t, tt.summary, e.Summary())
			assert.True(t, e.Match(tt.fields), "%v", e.Fields())
		})
	}
}

func TestParse_Rejects(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"empty", "  \n", "empty record"},
		{"not an object", `["event"]`, "not a JSON object"},
		{"truncated", `{"event": {"type": "file_open"`, "parse record"},
		{"trailing data", `{"event": {"type": "x"}, "COE": {}} {}`, "data after the JSON object"},
		{"no event", `{"COE": {}}`, `record has no "event" object`},
		{"event not an object", `{"event": "file_open"}`, `"event" is not an object`},
		{"no hook", `{"event": {"process": "bash"}, "COE": {}}`, "record names no hook"},
		{"unknown export type", `{"export": {"type": "nonsense"}}`, `unknown export type "nonsense"`},
		{"aggregate without value", `{"export": {"type": "aggregate"}, "aggregate": {}}`, "no \"aggregate.value\""},
		{"text garbage", `hello world`, "expected name{…}"},
		{"text unclosed", `event{process=bash`, "is not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.line))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseAll_ErrorNamesLineAndSkipsBlankLines(t *testing.T) {
	good := `{"event": {"process": "bash", "type": "task_alloc"}, "COE": {"uid": "0"}, "task_alloc": {}}`
	events, err := ParseAll(strings.NewReader(good + "\n\n" + good + "\n{oops\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 4: ")
	assert.Len(t, events, 2)

	events, err = ParseAll(strings.NewReader("\n" + good)) // no final newline
	require.NoError(t, err)
	assert.Len(t, events, 1)
}

func FuzzParse(f *testing.F) {
	for name := range samples {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		for _, line := range strings.Split(string(data), "\n")[:1] {
			f.Add([]byte(line))
		}
	}
	f.Add([]byte(`{"export": {"type": "log"}, "log": {"process": "bash", "event": "task_alloc", "action": "DENY"}}`))
	f.Add([]byte(`{"export": {"type": "aggregate"}, "aggregate": {"value": "00"}}`))
	f.Add([]byte(`pid{1} event{process=a, type=file_open} COE{uid=0} file{flags=1, digest=00}`))
	f.Add([]byte(`{"event": {"type": "x", "n": [1, true, null, {"a": 1.5}]}, "COE": {}, "x": {"addr": {"af_inet": {"address": "1.2.3.4", "port": "80"}}, "sock": {"family": "2"}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Parse(line)
		if err != nil {
			return
		}
		_ = e.Summary()
		_ = e.Match(map[string]string{"type": e.Type()})
		again, err := Parse(e.Raw)
		require.NoError(t, err)
		assert.Equal(t, e.Fields(), again.Fields())
	})
}
