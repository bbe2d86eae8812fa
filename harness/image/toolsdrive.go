package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"

	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/ldd"

	"github.com/tsemlab/tsemlab/internal/digest"
	"github.com/tsemlab/tsemlab/internal/fileutil"
	"github.com/tsemlab/tsemlab/protocol"
)

// DrivePrograms are the host programs only some scenarios run: runc
// (container mode) and apparmor_parser (AppArmor labs), 10 MB of the
// initramfs's 26. When the host has mkfs.erofs they go on a read-only tools
// drive (protocol.ToolsImage) that the runner attaches to the scenarios
// whose plan needs them, and the initramfs keeps only their shared
// libraries and /bin links to where the guest copies them from the drive
// (package orchestrator says why it does not run them off it): every
// boot unpacks the whole initramfs, and under TCG each megabyte costs
// 15-25 ms of it. Without mkfs.erofs they stay in the initramfs.
var DrivePrograms = []string{"runc", "apparmor_parser"}

// toolsDrive says whether images built on this host put DrivePrograms on
// a tools drive.
func toolsDrive() bool {
	_, err := exec.LookPath("mkfs.erofs")
	return err == nil
}

// toolsPath is the tools drive of the image at cpio.
func toolsPath(cpioPath string) string {
	return cpioPath[:len(cpioPath)-len(filepath.Ext(cpioPath))] + ".tools.erofs"
}

// driveFiles splits the host programs: those packed in the initramfs
// (with their libraries), and those for the tools drive (name to host
// path, sorted).
func driveFiles(hosts map[string]string, drive bool) (initramfs []string, tools map[string]string) {
	tools = map[string]string{}
	for _, name := range sortedKeys(hosts) {
		if drive && isDriveProgram(name) {
			tools[name] = hosts[name]
			continue
		}
		initramfs = append(initramfs, hosts[name]+":bin/"+name)
	}
	return initramfs, tools
}

func isDriveProgram(name string) bool { return slices.Contains(DrivePrograms, name) }

// toolLinks are the initramfs's /bin links to the tools drive's programs.
func toolLinks(tools map[string]string) []cpio.Record {
	var recs []cpio.Record
	for _, name := range sortedKeys(tools) {
		recs = append(recs, cpio.Symlink(path.Join("bin", name), path.Join(protocol.ToolsDir, name)))
	}
	return recs
}

// toolLibraries are the shared libraries the tools drive's programs load,
// as mkuimage file arguments: they stay in the initramfs, where the
// guest's dynamic loader looks.
func toolLibraries(tools map[string]string) ([]string, error) {
	var out []string
	for _, name := range sortedKeys(tools) {
		libs, err := ldd.FList(tools[name])
		if err != nil {
			return nil, fmt.Errorf("shared libraries of %s: %w", tools[name], err)
		}
		for _, l := range libs {
			out = append(out, l+":"+l[1:])
		}
	}
	return out, nil
}

// buildTools packs the programs into an uncompressed erofs image at out
// (runc is read once per container scenario; decompressing it under TCG
// would cost more than reading it), with every timestamp at the epoch and
// a UUID from the image key, so that the same programs give the same
// image.
func buildTools(ctx context.Context, tools map[string]string, key, tmp, out string) error {
	stage := filepath.Join(tmp, "tools")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	for name, src := range tools {
		dst := filepath.Join(stage, name)
		if err := fileutil.Copy(src, dst); err != nil {
			return fmt.Errorf("tools drive: %w", err)
		}
		if err := os.Chmod(dst, 0o755); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "mkfs.erofs", "--quiet", "-x-1", "-T0", "-U"+digest.UUID(key), out, stage)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tools drive: mkfs.erofs: %w: %s", err, b)
	}
	return nil
}
