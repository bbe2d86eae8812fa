package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/orchestrator/oci"
	"github.com/tsemlab/tsemlab/protocol"
)

// containerID names every phase's container. It is the same in every
// phase (each phase's container is gone before the next starts), so that
// runc's own paths, which TSEM models, are the same when learning and
// enforcing.
const containerID = "tsemlab"

// runcTimeout bounds one runc command of the teardown.
const runcTimeout = 30 * time.Second

// container is one phase's runc container: the bundle the orchestrator
// wrote, and the runc that runs it.
type container struct {
	// Runc is the runc binary; State its --root, on a tmpfs.
	Runc  string `json:"runc"`
	State string `json:"state"`
	// Bundle holds config.json; the root filesystem is the phase's root.
	Bundle string `json:"bundle"`
	ID     string `json:"id"`
	// Cgroup is the cgroup file system; CgroupsPath the container's
	// cgroup in it (in every v1 hierarchy, or in the v2 one).
	Cgroup      string `json:"cgroup"`
	CgroupsPath string `json:"cgroups_path"`
}

// bundle writes the phase's container configuration: the phase's shell as
// the container's process, with its environment, working directory and
// capabilities, in the phase's root. The container's removal goes on td
// first, so that it runs before the root is unmounted.
func (o *orchestrator) bundle(ph protocol.Phase, image string, td *teardown) (*container, error) {
	l := o.img.layout
	c := &container{
		Runc: o.img.runc, State: l.Runc, Bundle: filepath.Join(l.Phase, "bundle"), ID: containerID,
		Cgroup: l.Cgroup, CgroupsPath: "/tsemlab/" + containerID,
	}
	td.push("remove container "+c.ID, c.remove)
	opts := oci.Options{
		Root: l.Root, Args: ph.Shell, Env: shellEnv(ph.Env), Cwd: ph.Dir,
		Hostname: image, CgroupsPath: c.CgroupsPath, Filesystems: filesystems(filepath.Join(l.Proc, "filesystems")),
	}
	if ph.Caps != nil {
		opts.Drop, opts.Add = ph.Caps.Drop, ph.Caps.Add
	}
	cfg, err := oci.Config(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Bundle, 0o700); err != nil {
		return nil, fmt.Errorf("container bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.Bundle, "config.json"), cfg, 0o600); err != nil {
		return nil, fmt.Errorf("container bundle: %w", err)
	}
	return c, nil
}

func (c *container) argv(args ...string) []string {
	return append([]string{c.Runc, "--root", c.State}, args...)
}

// runArgv runs the container in the foreground with no terminal, so its
// process (the phase's shell) gets runc's stdin, stdout and stderr: the
// session's pipes. --no-pivot because the guest's root is the initramfs,
// which pivot_root(2) cannot leave. Run from a namespace leader, runc and
// everything it starts (runc:[2:INIT], the shell, the steps) are in the
// modeled namespace.
func (c *container) runArgv() []string {
	return c.argv("run", "--no-pivot", "--bundle", c.Bundle, c.ID)
}

// start runs the container with its shell as a shell session.
func (c *container) start(self string) (session, error) {
	return startShell(protocol.Phase{Session: protocol.SessionShell, Shell: c.runArgv()}, self)
}

// remove deletes the container whatever state it is in (runc run deletes
// it when its shell exits; a killed or refused runc leaves it). When runc
// cannot, it kills what is left in the container's cgroups and removes
// runc's state by hand, so that the next phase can create a container of
// the same name: a half-started container must never block later runs.
func (c *container) remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), runcTimeout)
	defer cancel()
	argv := c.argv("delete", "--force", c.ID)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	defer c.removeParents()
	if err == nil {
		return c.leftovers()
	}
	err = fmt.Errorf("runc delete --force %s: %w%s", c.ID, err, tailLines(string(out), 3))
	if ferr := c.forget(); ferr != nil {
		return errors.Join(err, fmt.Errorf("removing it by hand: %w", ferr))
	}
	return fmt.Errorf("%w (removed by hand)", err)
}

// removeParents removes the cgroups runc made above the container's own
// (runc removes only that one), so that every phase's runc finds the same
// cgroup tree: seen on a TSEM kernel, runc making /tsemlab while learning
// and finding it while enforcing was an event outside the model
// (inode_getattr instead of inode_mkdir), and runc was refused. A parent
// still in use by another container is not empty and stays.
func (c *container) removeParents() {
	roots, _ := filepath.Glob(filepath.Join(c.Cgroup, "*"))
	roots = append(roots, c.Cgroup)
	for p := filepath.Dir(filepath.Clean("/" + c.CgroupsPath)); p != "/"; p = filepath.Dir(p) {
		for _, root := range roots {
			_ = unix.Rmdir(filepath.Join(root, p))
		}
	}
}

// leftovers checks that runc left nothing that would block the next
// container.
func (c *container) leftovers() error {
	if _, err := os.Stat(filepath.Join(c.State, c.ID)); err == nil {
		return fmt.Errorf("runc delete --force %s left its state in %s", c.ID, c.State)
	}
	if pids := c.pids(); len(pids) > 0 {
		return fmt.Errorf("runc delete --force %s left processes %v", c.ID, pids)
	}
	return nil
}

// forget does runc's delete by hand: SIGKILL to every process in the
// container's cgroups, the cgroups removed, runc's state removed.
func (c *container) forget() error {
	pids := c.pids()
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	for deadline := time.Now().Add(2 * time.Second); len(pids) > 0 && time.Now().Before(deadline); pids = c.pids() {
		time.Sleep(20 * time.Millisecond)
	}
	var errs []error
	if len(pids) > 0 {
		errs = append(errs, fmt.Errorf("processes %v survived SIGKILL", pids))
	}
	dirs := c.cgroupDirs()
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, d := range dirs {
		// Only the kernel's cgroup files are left in an emptied cgroup.
		_ = unix.Rmdir(d)
	}
	if err := os.RemoveAll(filepath.Join(c.State, c.ID)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cgroupDirs are the container's cgroup directories: in the v2 hierarchy,
// or in each v1 hierarchy.
func (c *container) cgroupDirs() []string {
	var dirs []string
	for _, pattern := range []string{filepath.Join(c.Cgroup, c.CgroupsPath), filepath.Join(c.Cgroup, "*", c.CgroupsPath)} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	return dirs
}

// alive reports whether pid runs (a zombie has ended: it only waits for
// its parent).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	_, after, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(after, "Z")
}

// pids are the live processes in the container's cgroups.
func (c *container) pids() []int {
	var pids []int
	for _, d := range c.cgroupDirs() {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && alive(pid) && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
