package orchestrator

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

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

func TestAttachImage_ContainerModeGivesRuncItsState(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	var td teardown
	require.NoError(t, o.attachImage(context.Background(), &td))
	l := o.img.layout
	assert.Equal(t, []string{
		"mount -t erofs -o ro " + o.plan.Drives[0].Device + " " + l.image("debian-minimal"),
		"mount -t tmpfs -o mode=0700 tmpfs " + l.Runc,
	}, f.ops)
	f.ops = nil
	require.NoError(t, td.run())
	assert.Equal(t, []string{"umount " + l.Runc, "umount " + l.image("debian-minimal")}, f.ops)
}

func TestUnmetByKernel_ContainerModeNeedsTheDevicesCgroup(t *testing.T) {
	o, _, _ := imageOrchestrator(t, protocol.ModeContainer)
	o.img.layout.Proc = t.TempDir()
	cgroups := filepath.Join(o.img.layout.Proc, "cgroups")
	require.NoError(t, writeFile(cgroups, "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\n"))
	assert.Equal(t, "kernel 6.12.0-tsem lacks the devices cgroup (CONFIG_CGROUP_DEVICE), without which runc starts no container; kernel/config/virt.config asks for it", o.unmetByKernel("6.12.0-tsem"))
	require.NoError(t, writeFile(cgroups, "devices\t4\t1\t1\n"))
	assert.Empty(t, o.unmetByKernel("6.1.0"))
	o.plan.Mode = protocol.ModeProcess
	require.NoError(t, writeFile(cgroups, ""))
	assert.Empty(t, o.unmetByKernel("6.12.0-tsem"), "process mode needs no cgroup")
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
		assert.ErrorContains(t, err, "container mode needs runc, and neither this guest image nor a tools drive has it")
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

// TestAttachImage_ToolsDriveFirst: the tools drive (runc, apparmor_parser)
// is mounted before the workload images, and alone for a plan with no
// image (an AppArmor lab), where the initramfs's /bin links point.
func TestAttachImage_ToolsDriveFirst(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	tools := filepath.Join(t.TempDir(), "vdb")
	require.NoError(t, writeFile(tools, ""))
	o.plan.Drives = append(o.plan.Drives, protocol.Drive{Image: protocol.ToolsImage, Device: tools, FSType: "erofs"})
	withTool(t, o.img.layout)
	var td teardown
	require.NoError(t, o.attachImage(context.Background(), &td))
	l := o.img.layout
	assert.Equal(t, []string{
		"mount -t erofs -o ro " + tools + " " + l.image(protocol.ToolsImage),
		"mount -t erofs -o ro " + o.plan.Drives[0].Device + " " + l.image("debian-minimal"),
		"mount -t tmpfs -o mode=0700 tmpfs " + l.Runc,
	}, f.ops)

	o, f, _ = imageOrchestrator(t, protocol.ModeProcess)
	o.plan.Image, o.plan.Drives = "", []protocol.Drive{{Image: protocol.ToolsImage, Device: tools, FSType: "erofs"}}
	withTool(t, o.img.layout)
	require.NoError(t, o.attachImage(context.Background(), &td))
	assert.Equal(t, []string{"mount -t erofs -o ro " + tools + " " + o.img.layout.image(protocol.ToolsImage)}, f.ops)
}

func TestGuestLayout_ToolsWhereTheImageLinksPoint(t *testing.T) {
	assert.Equal(t, protocol.ToolsDir, guestLayout.Tools)
	assert.NotEqual(t, protocol.ToolsDir, guestLayout.image(protocol.ToolsImage), "copied off the drive, not run from it")
}

// TestAttachImage_ToolsAreCopiedOffTheDrive: the drive's programs run from
// the guest's root file system (no TSEM digest at each exec), executable.
func TestAttachImage_ToolsAreCopiedOffTheDrive(t *testing.T) {
	o, _, _ := imageOrchestrator(t, protocol.ModeProcess)
	tools := filepath.Join(t.TempDir(), "vdb")
	require.NoError(t, writeFile(tools, ""))
	o.plan.Image, o.plan.Drives = "", []protocol.Drive{{Image: protocol.ToolsImage, Device: tools, FSType: "erofs"}}
	l := o.img.layout
	withTool(t, l)
	require.NoError(t, os.WriteFile(filepath.Join(l.image(protocol.ToolsImage), "apparmor_parser"), []byte("#!/bin/sh\n"), 0o444))
	var td teardown
	require.NoError(t, o.attachImage(context.Background(), &td))
	b, err := os.ReadFile(filepath.Join(l.Tools, "apparmor_parser"))
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\n", string(b))
	st, err := os.Stat(filepath.Join(l.Tools, "apparmor_parser"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())

	// runc runs from a sealed memfd, which the tools directory links to.
	require.NotNil(t, o.img.sealedRunc)
	assert.Equal(t, sealedPath(o.img.sealedRunc), o.img.runc)
	link, err := os.Readlink(filepath.Join(l.Tools, "runc"))
	require.NoError(t, err)
	assert.Equal(t, o.img.runc, link)
	b, err = os.ReadFile(o.img.runc)
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\n", string(b))
	seals, err := unix.FcntlInt(o.img.sealedRunc.Fd(), unix.F_GET_SEALS, 0)
	require.NoError(t, err)
	assert.Equal(t, runcSeals, seals)

	// A drive with nothing on it is an error naming it.
	o, _, _ = imageOrchestrator(t, protocol.ModeProcess)
	o.plan.Image, o.plan.Drives = "", []protocol.Drive{{Image: protocol.ToolsImage, Device: tools, FSType: "erofs"}}
	assert.EqualError(t, o.attachImage(context.Background(), &td), "tools drive: "+o.img.layout.image(protocol.ToolsImage)+" holds no programs (was the drive mounted?)")
}

// A guest that waits for its plan readies the tools before its hello (they
// are then in its snapshot) and detaches the drive; the scenario restored
// from it mounts only its own image.
func TestReadyTools_CopiesBeforeTheSnapshotAndTheScenarioSkipsThem(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	tools := filepath.Join(t.TempDir(), "vdb")
	require.NoError(t, writeFile(tools, ""))
	scenarioPlan := o.plan
	scenarioPlan.Drives = append(scenarioPlan.Drives, protocol.Drive{Image: protocol.ToolsImage, Device: tools, FSType: "erofs"})
	o.plan = protocol.AwaitPlan(scenarioPlan.Drives)
	l := o.img.layout
	withTool(t, l)

	require.NoError(t, o.readyTools(context.Background()))
	assert.True(t, o.img.toolsReady)
	assert.Equal(t, []string{"mount -t erofs -o ro " + tools + " " + l.image(protocol.ToolsImage), "umount " + l.image(protocol.ToolsImage)}, f.ops)
	require.NotNil(t, o.img.sealedRunc)

	f.ops = nil
	o.plan = scenarioPlan
	var td teardown
	require.NoError(t, o.attachImage(context.Background(), &td))
	for _, op := range f.ops {
		assert.NotContains(t, op, tools, "the tools drive is not mounted again")
	}
	assert.Contains(t, f.ops, "mount -t erofs -o ro "+scenarioPlan.Drives[0].Device+" "+l.image("debian-minimal"))
	assert.Equal(t, sealedPath(o.img.sealedRunc), o.img.runc)
	require.NoError(t, td.run())
}

func TestReadyTools_WithoutAToolsDriveDoesNothing(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeProcess)
	o.plan = protocol.AwaitPlan(o.plan.Drives)
	require.NoError(t, o.readyTools(context.Background()))
	assert.False(t, o.img.toolsReady)
	assert.Empty(t, f.ops)
}

// withTool puts a runc on the tools drive's mount point, as if mounted (the
// fake mounter mounts nothing).
func withTool(t *testing.T, l layout) {
	t.Helper()
	require.NoError(t, os.MkdirAll(l.image(protocol.ToolsImage), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(l.image(protocol.ToolsImage), "runc"), []byte("#!/bin/sh\n"), 0o444))
}
