package orchestrator

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

// imageOrchestrator is an orchestrator for a plan that names an image,
// with its mounts recorded instead of made.
func imageOrchestrator(t *testing.T, mode protocol.Mode) (*orchestrator, *fakeMounter, *recorder) {
	t.Helper()
	l := testLayout(t)
	dev := filepath.Join(t.TempDir(), "vda")
	require.NoError(t, writeFile(dev, ""))
	f, rec := &fakeMounter{}, &recorder{}
	o := &orchestrator{
		out: rec,
		plan: protocol.Plan{
			Image: "debian-minimal", Mode: mode, StepTimeout: protocol.Duration(stepLimit),
			Phases: []protocol.Phase{{Name: "p"}}, Drives: []protocol.Drive{{Image: "debian-minimal", Device: dev, FSType: "erofs"}},
		},
		self: "/bin/false",
		img:  images{mnt: f, layout: l, runc: fakeRunc(t)},
	}
	return o, f, rec
}

func TestAttachImage_ProcessModeMountsTheImageReadOnly(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeProcess)
	var td teardown
	require.NoError(t, o.attachImage(context.Background(), &td))
	l := o.img.layout
	assert.Equal(t, []string{"mount -t erofs -o ro " + o.plan.Drives[0].Device + " " + l.image("debian-minimal")}, f.ops)
	f.ops = nil
	require.NoError(t, td.run())
	assert.Equal(t, []string{"umount " + l.image("debian-minimal")}, f.ops)
}

func TestAttachImage_ContainerModeGivesRuncStateAndCgroups(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	l := &o.img.layout
	l.Proc = t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(l.Proc, "self"), 0o755))
	require.NoError(t, writeFile(filepath.Join(l.Proc, "self", "mountinfo"), "25 21 0:22 / /sys/fs/cgroup rw - tmpfs cgroup rw\n"))
	var td teardown
	require.NoError(t, o.attachImage(context.Background(), &td))
	assert.Equal(t, []string{
		"mount -t erofs -o ro " + o.plan.Drives[0].Device + " " + l.image("debian-minimal"),
		"mount -t tmpfs -o mode=0700 tmpfs " + l.Runc,
		"mount -t tmpfs -o nosuid,nodev,noexec,mode=0755 tmpfs " + l.Cgroup,
		"mount -t cgroup -o nosuid,nodev,noexec,none,name=systemd cgroup " + filepath.Join(l.Cgroup, "systemd"),
	}, f.ops, "a guest with no cgroup mounted gets a hierarchy runc can join")
	f.ops = nil
	require.NoError(t, td.run())
	assert.Equal(t, []string{"umount " + filepath.Join(l.Cgroup, "systemd"), "umount " + l.Cgroup, "umount " + l.Runc, "umount " + l.image("debian-minimal")}, f.ops)

	require.NoError(t, writeFile(filepath.Join(l.Proc, "self", "mountinfo"), "26 25 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"))
	f.ops = nil
	require.NoError(t, o.attachImage(context.Background(), &td))
	assert.Len(t, f.ops, 2, "cgroups already mounted are used as they are")
	require.NoError(t, td.run())
}

func TestAttachImage_FailuresSayWhatIsMissing(t *testing.T) {
	t.Run("no drive for the image", func(t *testing.T) {
		o, f, _ := imageOrchestrator(t, protocol.ModeProcess)
		o.plan.Drives = nil
		var td teardown
		assert.EqualError(t, o.attachImage(context.Background(), &td), `the plan names image "debian-minimal" but attaches no drive holding it`)
		assert.Empty(t, f.ops)
	})
	t.Run("no runc in the guest", func(t *testing.T) {
		o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
		o.img.runc = "/nonexistent/runc"
		var td teardown
		err := o.attachImage(context.Background(), &td)
		assert.ErrorContains(t, err, "container mode needs runc, and this guest image has none")
		assert.ErrorContains(t, err, "apt-get install runc")
		f.ops = nil
		require.NoError(t, td.run())
		assert.Equal(t, []string{"umount " + o.img.layout.image("debian-minimal")}, f.ops, "the image mounted before the failure is unmounted")
	})
	t.Run("the image does not mount", func(t *testing.T) {
		o, f, _ := imageOrchestrator(t, protocol.ModeProcess)
		f.failMount = o.img.layout.image("debian-minimal")
		var td teardown
		assert.ErrorContains(t, o.attachImage(context.Background(), &td), "attach image debian-minimal: mount -t erofs")
		assert.Empty(t, td.steps)
	})
}

func TestEnterPhase_ProcessModeRootAndItsTeardown(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeProcess)
	l := o.img.layout
	td, err := o.enterPhase(protocol.Phase{Name: "learn"})
	require.NoError(t, err)
	assert.Equal(t, &workload{Root: l.Root}, o.img.work)
	assert.Len(t, f.ops, 6)
	f.ops = nil
	require.NoError(t, td.run())
	assert.Equal(t, []string{
		"umount " + filepath.Join(l.Root, "tmp"), "umount " + filepath.Join(l.Root, "dev"), "umount " + filepath.Join(l.Root, "sys"),
		"umount " + filepath.Join(l.Root, "proc"), "umount " + l.Root, "umount " + l.Phase,
	}, f.ops)
	assert.Nil(t, o.img.work, "the phase's root is forgotten")
}

func TestEnterPhase_AFailedMountUndoesTheRest(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeProcess)
	l := o.img.layout
	f.failMount = filepath.Join(l.Root, "sys")
	td, err := o.enterPhase(protocol.Phase{Name: "learn"})
	require.Error(t, err)
	assert.Nil(t, o.img.work)
	f.ops = nil
	require.NoError(t, td.run())
	assert.Equal(t, []string{"umount " + filepath.Join(l.Root, "proc"), "umount " + l.Root, "umount " + l.Phase}, f.ops)
}

func TestEnterPhase_NoImageNothingToDo(t *testing.T) {
	o := &orchestrator{}
	td, err := o.enterPhase(protocol.Phase{Name: "p"})
	require.NoError(t, err)
	assert.Empty(t, td.steps)
	assert.Nil(t, o.img.work)
}

func TestWorkload_ChrootedProcessesGetTheImageEnvironment(t *testing.T) {
	var none *workload
	ph := protocol.Phase{Env: []string{"HISTFILE="}}
	assert.Equal(t, ph, none.phase(ph))
	assert.Equal(t, "/bbin/tsemlab-guest", none.self("/bbin/tsemlab-guest"))
	assert.Equal(t, "", none.root())

	w := &workload{Root: "/tsemlab/root"}
	got := w.phase(ph)
	assert.Equal(t, append(append([]string{}, imageEnv...), "HISTFILE="), got.Env, "the phase's environment comes last and wins")
	assert.Equal(t, "/", got.Dir, "a chroot keeps the old working directory unless given one")
	assert.Equal(t, "/root", w.phase(protocol.Phase{Dir: "/root"}).Dir)
	assert.Equal(t, "/proc/self/exe", w.self("/bbin/tsemlab-guest"), "capexec is reached through the root's /proc")
}

func TestPhasesInTwoImages_EachImageMountedOnceEachPhaseOnItsOwn(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeProcess)
	dev2 := filepath.Join(t.TempDir(), "vdb")
	require.NoError(t, writeFile(dev2, ""))
	o.plan.Drives = append(o.plan.Drives, protocol.Drive{Image: "httpd", Device: dev2, FSType: "erofs"})
	o.plan.Phases = []protocol.Phase{{Name: "a"}, {Name: "b", Image: "httpd"}, {Name: "c", Image: "debian-minimal"}}
	l := o.img.layout
	var td teardown
	require.NoError(t, o.attachImage(context.Background(), &td))
	assert.Equal(t, []string{
		"mount -t erofs -o ro " + o.plan.Drives[0].Device + " " + l.image("debian-minimal"),
		"mount -t erofs -o ro " + dev2 + " " + l.image("httpd"),
	}, f.ops)
	f.ops = nil
	phase, err := o.enterPhase(o.plan.Phases[1])
	require.NoError(t, err)
	assert.Contains(t, f.ops[1], "lowerdir="+l.image("httpd")+",")
	require.NoError(t, phase.run())
}
