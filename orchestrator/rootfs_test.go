package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/internal/testutil"
	"github.com/tsemlab/tsemlab/protocol"
)

// fakeMounter records what would be mounted, makes the directories for
// real (tests write bundles into them), and fails where a test says.
type fakeMounter struct {
	ops []string
	// failMount fails the mount whose target is this path.
	failMount string
	// busy makes a plain unmount of this target fail with EBUSY.
	busy string
}

func (f *fakeMounter) mount(m mount) error {
	if m.Target == f.failMount {
		f.ops = append(f.ops, "FAIL "+m.String())
		return unix.EPERM
	}
	f.ops = append(f.ops, m.String())
	return nil
}

func (f *fakeMounter) unmount(target string, flags int) error {
	if target == f.busy && flags == 0 {
		f.ops = append(f.ops, "umount "+target+" (busy)")
		return unix.EBUSY
	}
	op := "umount " + target
	if flags == unix.MNT_DETACH {
		op += " (detach)"
	}
	f.ops = append(f.ops, op)
	return nil
}

func (f *fakeMounter) mkdirAll(path string) error { return os.MkdirAll(path, 0o755) }

func TestLayout_MountPlansMatchGolden(t *testing.T) {
	l := guestLayout
	var b strings.Builder
	section := func(name string, ms []mount) {
		fmt.Fprintf(&b, "# %s\n", name)
		for _, m := range ms {
			fmt.Fprintln(&b, m)
			for _, d := range m.Mkdirs {
				fmt.Fprintf(&b, "  (first: mkdir -p %s)\n", d)
			}
		}
	}
	section("image, once per scenario", l.imageMounts(protocol.Drive{Image: "debian-minimal", Device: "/dev/vda", FSType: "erofs"}))
	section("every phase", l.overlayMounts("debian-minimal"))
	section("process mode", l.processMounts())
	section("container mode", l.runcMounts())
	testutil.Golden(t, "testdata/mounts.golden", []byte(b.String()))
}

func TestLayout_ImageWithoutFSTypeIsErofs(t *testing.T) {
	assert.Equal(t, "erofs", guestLayout.imageMounts(protocol.Drive{Device: "/dev/vda"})[0].FSType)
}

func TestMountAll_AFailureLeavesExactlyWhatWasMountedToUndo(t *testing.T) {
	l := testLayout(t)
	f := &fakeMounter{failMount: filepath.Join(l.Root, "dev")}
	var td teardown
	err := mountAll(f, append(l.overlayMounts("debian-minimal"), l.processMounts()...), &td)
	require.Error(t, err)
	assert.ErrorIs(t, err, unix.EPERM)
	assert.Contains(t, err.Error(), "mount -o bind /dev "+filepath.Join(l.Root, "dev"))
	f.ops = nil
	require.NoError(t, td.run())
	assert.Equal(t, []string{
		"umount " + filepath.Join(l.Root, "sys"),
		"umount " + filepath.Join(l.Root, "proc"),
		"umount " + l.Root,
		"umount " + l.Phase,
	}, f.ops)
	assert.NoError(t, td.run(), "a teardown runs once")
}

func TestTeardown_RunsNewestFirstAndKeepsGoingPastFailures(t *testing.T) {
	var td teardown
	var order []string
	for _, name := range []string{"a", "b", "c"} {
		td.push(name, func() error {
			order = append(order, name)
			if name == "b" {
				return errors.New("refused")
			}
			return nil
		})
	}
	err := td.run()
	assert.Equal(t, []string{"c", "b", "a"}, order)
	assert.EqualError(t, err, "b: refused")
}

func TestUnmount_ABusyMountIsDetachedLazilyAndReported(t *testing.T) {
	f := &fakeMounter{busy: "/tsemlab/root"}
	err := unmount(f, "/tsemlab/root")
	assert.EqualError(t, err, "/tsemlab/root was busy and was detached lazily (something still runs there)")
	assert.Equal(t, []string{"umount /tsemlab/root (busy)", "umount /tsemlab/root (detach)"}, f.ops)
	assert.NoError(t, unmount(f, "/tsemlab/phase"))
}

func TestRootedPIDs_FindsWhatRunsInTheRoot(t *testing.T) {
	proc := t.TempDir()
	for pid, root := range map[string]string{"1": "/", "42": "/tsemlab/root", "43": "/tsemlab/root/srv", "44": "/tsemlab/rootless", "self": "/tsemlab/root"} {
		require.NoError(t, os.MkdirAll(filepath.Join(proc, pid), 0o755))
		require.NoError(t, os.Symlink(root, filepath.Join(proc, pid, "root")))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "45"), 0o755)) // gone: no root link
	assert.ElementsMatch(t, []int{42, 43}, rootedPIDs(proc, "/tsemlab/root"))
	assert.NoError(t, killRooted(proc, "/nothing/runs/here"))
}

func TestFilesystems_ReadsProcFilesystems(t *testing.T) {
	p := filepath.Join(t.TempDir(), "filesystems")
	require.NoError(t, os.WriteFile(p, []byte("nodev\tsysfs\nnodev\ttmpfs\n\terofs\nnodev\toverlay\n"), 0o644))
	assert.Equal(t, []string{"sysfs", "tmpfs", "erofs", "overlay"}, filesystems(p))
	assert.Nil(t, filesystems(filepath.Join(t.TempDir(), "none")))
}

func TestHasController_ReadsProcCgroups(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cgroups")
	require.NoError(t, os.WriteFile(p, []byte("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t2\t1\t1\ndevices\t5\t3\t1\nmemory\t0\t1\t0\n"), 0o644))
	assert.True(t, hasController(p, "devices"))
	assert.False(t, hasController(p, "memory"), "listed but disabled")
	assert.False(t, hasController(p, "pids"))
	assert.False(t, hasController(filepath.Join(t.TempDir(), "none"), "devices"))
}

func TestWaitForDevice(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "vda")
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = os.WriteFile(dev, nil, 0o600)
	}()
	require.NoError(t, waitForDevice(context.Background(), dev, 5*time.Second))
	err := waitForDevice(context.Background(), dev+"x", 50*time.Millisecond)
	assert.ErrorContains(t, err, "vdax after 50ms: the image's disk did not appear")
}

// testLayout is a layout in a temporary directory.
func testLayout(t *testing.T) layout {
	d := t.TempDir()
	return layout{
		Images: filepath.Join(d, "images"), Phase: filepath.Join(d, "phase"), Root: filepath.Join(d, "root"),
		Runc: filepath.Join(d, "runc"), Cgroup: filepath.Join(d, "cgroup"), Proc: "/proc", Tools: filepath.Join(d, "tools"),
	}
}
