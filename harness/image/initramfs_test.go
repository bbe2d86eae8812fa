package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/u-root/mkuimage/cpio"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/protocol"
)

// file is a regular file or directory as read back from an archive.
type file struct {
	name    string
	dir     bool
	perm    uint64
	content string
}

func readArchive(t *testing.T, r io.ReaderAt) []file {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(r))
	require.NoError(t, err)
	var out []file
	for _, r := range recs {
		f := file{name: r.Name, dir: r.Mode&cpio.S_IFMT == cpio.S_IFDIR, perm: r.Mode & 0o7777}
		if !f.dir {
			b, err := io.ReadAll(io.NewSectionReader(r, 0, int64(r.FileSize)))
			require.NoError(t, err)
			f.content = string(b)
		}
		out = append(out, f)
	}
	return out
}

func writeBase(t *testing.T, path string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cpio.Newc.Writer(&b)
	require.NoError(t, cpio.WriteRecords(w, []cpio.Record{
		cpio.Directory("etc", 0o755),
		cpio.StaticFile("etc/hostname", "tsemlab\n", 0o644),
		cpio.Directory("tsemlab", 0o755),
		cpio.StaticFile("tsemlab/modules.txt", "\n", 0o644),
		cpio.StaticFile("init", "#!/bin/sh\nexec /bbin/init\n", 0o755),
	}))
	require.NoError(t, cpio.WriteTrailer(w))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	return b.Bytes()
}

func TestWithPlan_AppendsThePlanArchive(t *testing.T) {
	dir := t.TempDir()
	basePath := filepath.Join(dir, "base.cpio")
	base := writeBase(t, basePath)
	plan := protocol.Plan{
		Version:     protocol.Version,
		Scenario:    "process-grep",
		Requires:    protocol.Requires{LSM: []string{"tsem"}},
		StepTimeout: protocol.Duration(90 * time.Second),
		Phases: []protocol.Phase{{
			Name: "learn", Session: protocol.SessionShell, Shell: []string{"/bin/bash", "--noprofile", "--norc"},
			Env:   []string{"HISTFILE="},
			Steps: []protocol.Step{{Index: 1, Run: "grep rocinante /etc/passwd"}},
		}},
		Files: map[string]string{"grep.model": "state value=00\n"},
	}
	dst := filepath.Join(dir, "run.cpio")
	require.NoError(t, WithPlan(&Image{Path: basePath}, plan, dst))

	data, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, base), "the base archive is copied byte for byte")
	require.Zero(t, len(base)%4, "the kernel wants the next archive 4-byte aligned")
	after, err := os.ReadFile(basePath)
	require.NoError(t, err)
	assert.Equal(t, base, after, "the cached base is not touched")

	// Read the concatenation as the kernel does: the first archive up to
	// its trailer, then the next one.
	assert.Equal(t, []file{
		{name: "etc", dir: true, perm: 0o755},
		{name: "etc/hostname", perm: 0o644, content: "tsemlab\n"},
		{name: "tsemlab", dir: true, perm: 0o755},
		{name: "tsemlab/modules.txt", perm: 0o644, content: "\n"},
		{name: "init", perm: 0o755, content: "#!/bin/sh\nexec /bbin/init\n"},
	}, readArchive(t, bytes.NewReader(data)))

	second := readArchive(t, bytes.NewReader(data[len(base):]))
	require.Len(t, second, 2)
	assert.Equal(t, file{name: "tsemlab", dir: true, perm: 0o755}, second[0])
	assert.Equal(t, strings.TrimPrefix(protocol.PlanPath, "/"), second[1].name)
	assert.Equal(t, uint64(0o644), second[1].perm)

	var got protocol.Plan
	require.NoError(t, json.Unmarshal([]byte(second[1].content), &got))
	assert.Equal(t, plan, got)
}

func TestWithPlan_MissingBaseNamesIt(t *testing.T) {
	dir := t.TempDir()
	err := WithPlan(&Image{Path: filepath.Join(dir, "gone.cpio")}, protocol.Plan{}, filepath.Join(dir, "run.cpio"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "base initramfs: open "+filepath.Join(dir, "gone.cpio"))
}

func TestFindSource(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo := filepath.Dir(filepath.Dir(wd)) // harness/image → checkout

	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(other, "a", "b"), 0o755))

	fake := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(fake, "go.mod"), []byte("module "+Module+"\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(fake, "orchestrator", "tsem"), 0o755))

	tests := []struct {
		name    string
		dir     string
		want    string
		wantErr string
	}{
		{name: "this checkout from a package directory", dir: wd, want: repo},
		{name: "relative path", dir: ".", want: repo},
		{name: "the checkout root", dir: repo, want: repo},
		{name: "a copy of the checkout", dir: filepath.Join(fake, "orchestrator", "tsem"), want: fake},
		{name: "another module", dir: filepath.Join(other, "a", "b"), wantErr: "set TSEMLAB_SRC"},
		{name: "outside any checkout", dir: os.TempDir(), wantErr: "no checkout of " + Module + " above " + os.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindSource(tt.dir)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "TSEMLAB_SRC")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// sourceTree writes a minimal checkout: go.mod, go.sum and one orchestrator file.
func sourceTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":                       "module " + Module + "\n\ngo 1.26\n",
		"go.sum":                       "example.com/x v1.0.0 h1:AAAA=\n",
		"orchestrator/orchestrator.go": "package orchestrator\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

func TestInputKey_ChangesWithTheGuestSources(t *testing.T) {
	hostDir := t.TempDir()
	bash := filepath.Join(hostDir, "bash")
	require.NoError(t, os.WriteFile(bash, []byte("ELF bash v1"), 0o755))
	mod := filepath.Join(hostDir, "pvpanic-pci.ko")
	require.NoError(t, os.WriteFile(mod, []byte("module v1"), 0o644))
	hosts := map[string]string{"bash": bash}

	tests := []struct {
		name    string
		change  func(t *testing.T, src string)
		spec    func(spec *Spec)
		changed bool
	}{
		{name: "nothing changed", changed: false},
		{name: "orchestrator source", changed: true, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "orchestrator", "orchestrator.go"), "package orchestrator\n\nvar x = 1\n")
		}},
		{name: "new orchestrator source", changed: true, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "orchestrator", "tsem", "tsem.go"), "package tsem\n")
		}},
		{name: "protocol source", changed: true, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "protocol", "protocol.go"), "package protocol\n")
		}},
		{name: "busybox's mainthread source", changed: true, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "internal", "mainthread", "mainthread.go"), "package mainthread\n")
		}},
		{name: "go.sum", changed: true, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "go.sum"), "example.com/x v1.0.1 h1:BBBB=\n")
		}},
		{name: "host program", changed: true, change: func(t *testing.T, src string) {
			write(t, bash, "ELF bash v2")
		}},
		{name: "kernel module", changed: true, spec: func(s *Spec) {
			s.Modules = []kernel.Module{{Name: "pvpanic_pci", Path: mod}}
		}},
		{name: "kernel release", changed: true, spec: func(s *Spec) { s.KernelRelease = "6.1.0-57-cloud-amd64" }},
		{name: "orchestrator test file", changed: false, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "orchestrator", "orchestrator_test.go"), "package orchestrator\n")
		}},
		{name: "orchestrator testdata", changed: false, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "orchestrator", "testdata", "x.json"), "{}")
		}},
		{name: "host-side source", changed: false, change: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "harness", "runner", "runner.go"), "package runner\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(t, bash, "ELF bash v1")
			src := sourceTree(t)
			spec := Spec{SourceDir: src, KernelRelease: "6.1.0-56-cloud-amd64"}
			before, err := inputKey(spec, hosts, false)
			require.NoError(t, err)
			require.Regexp(t, "^[0-9a-f]{64}$", before)
			if tt.change != nil {
				tt.change(t, src)
			}
			if tt.spec != nil {
				tt.spec(&spec)
			}
			after, err := inputKey(spec, hosts, false)
			require.NoError(t, err)
			if tt.changed {
				assert.NotEqual(t, before, after)
			} else {
				assert.Equal(t, before, after)
			}
		})
	}
}

func TestInputKey_SameTreeElsewhereSameKey(t *testing.T) {
	a, b := sourceTree(t), sourceTree(t)
	ka, err := inputKey(Spec{SourceDir: a}, nil, false)
	require.NoError(t, err)
	kb, err := inputKey(Spec{SourceDir: b}, nil, false)
	require.NoError(t, err)
	assert.Equal(t, ka, kb, "the key hashes paths relative to the checkout")
}

func TestInputKey_MissingInputIsAnError(t *testing.T) {
	src := sourceTree(t)
	require.NoError(t, os.Remove(filepath.Join(src, "go.sum")))
	_, err := inputKey(Spec{SourceDir: src}, nil, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hash image input: open "+filepath.Join(src, "go.sum"))
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestPrune_KeepsTheNewestImages(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 6; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%d.cpio", i))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		require.NoError(t, os.WriteFile(p+".json", nil, 0o644))
		when := time.Unix(int64(1000+i), 0)
		require.NoError(t, os.Chtimes(p, when, when))
	}
	prune(dir, 4, slog.New(slog.NewTextHandler(io.Discard, nil)))
	left, _ := filepath.Glob(filepath.Join(dir, "*.cpio"))
	assert.ElementsMatch(t, []string{"2.cpio", "3.cpio", "4.cpio", "5.cpio"}, baseNames(left))
	assert.NoFileExists(t, filepath.Join(dir, "0.cpio.json"))
}

func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	return out
}

func TestPrune_SkipsAnImageInUse(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 6; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%d.cpio", i))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		when := time.Unix(int64(1000+i), 0)
		require.NoError(t, os.Chtimes(p, when, when))
	}
	// A run uses the oldest image (as Base leaves it).
	inUse := &Image{Path: filepath.Join(dir, "0.cpio")}
	require.NoError(t, inUse.hold(context.Background()))
	prune(dir, 4, slog.New(slog.NewTextHandler(io.Discard, nil)))
	left, _ := filepath.Glob(filepath.Join(dir, "*.cpio"))
	assert.ElementsMatch(t, []string{"0.cpio", "2.cpio", "3.cpio", "4.cpio", "5.cpio"}, baseNames(left))

	inUse.Release()
	inUse.Release()
	prune(dir, 4, slog.New(slog.NewTextHandler(io.Discard, nil)))
	left, _ = filepath.Glob(filepath.Join(dir, "*.cpio"))
	assert.ElementsMatch(t, []string{"2.cpio", "3.cpio", "4.cpio", "5.cpio"}, baseNames(left), "released, it goes")
}

// TestBase_CacheHitMarksTheImageUsedAndHoldsIt checks the two things that
// keep a running run's image from being pruned: a hit renews its age and
// holds a shared lock until Release.
func TestBase_CacheHitMarksTheImageUsedAndHoldsIt(t *testing.T) {
	src := sourceTree(t)
	cache := t.TempDir()
	hosts, err := hostPrograms()
	require.NoError(t, err)
	spec := Spec{SourceDir: src}
	key, err := inputKey(spec, hosts, toolsDrive())
	require.NoError(t, err)
	dir := filepath.Join(cache, "initramfs")
	out := filepath.Join(dir, key[:16]+".cpio")
	write(t, out, "cached image")
	meta, err := json.Marshal(Image{Path: out, SHA256: "abc", Key: key})
	require.NoError(t, err)
	write(t, out+".json", string(meta))
	old := time.Now().Add(-30 * 24 * time.Hour)
	require.NoError(t, os.Chtimes(out, old, old))

	img, err := Builder{CacheDir: cache, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}.Base(context.Background(), spec)
	require.NoError(t, err)
	assert.Equal(t, out, img.Path)
	st, err := os.Stat(out)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), st.ModTime(), time.Minute, "a hit renews the image's age")

	_, err = filelock.TryLock(out)
	require.ErrorIs(t, err, filelock.ErrLocked, "the image is held while in use")
	img.Release()
	unlock, err := filelock.TryLock(out)
	require.NoError(t, err)
	unlock()
}
