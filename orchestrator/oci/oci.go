// Package oci makes the OCI runtime configuration (a bundle's config.json)
// of the container a container-mode phase runs in, with the runtime-spec
// types runc reads. It is pure: options in, configuration out.
//
// The container's process is the phase's shell with no terminal: the
// orchestrator types the steps into its stdin and reads its stdout and
// stderr, as in any shell session. It gets its own pid, ipc, uts and mount
// namespaces but shares the guest's network namespace, so that a server it
// starts is reachable from the orchestrator over the guest's loopback (the
// guest has no other network, so nothing leaves the VM).
package oci

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// DefaultPath is the container's PATH unless the phase sets one.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCaps are the capabilities of the container's process unless the
// phase changes them: the set container engines (Docker, containerd) give
// by default.
var DefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// Options are what a phase decides about its container.
type Options struct {
	// Root is the container's root filesystem: the phase's writable
	// overlay on the workload image.
	Root string
	// Args is the container's process, the phase's shell.
	Args []string
	// Env is its environment (KEY=value), after DefaultPath.
	Env []string
	// Cwd is its working directory; "" means /.
	Cwd      string
	Hostname string
	// CgroupsPath is the cgroup runc puts the container in.
	CgroupsPath string
	// Drop and Add change DefaultCaps, Drop first: names as in
	// capabilities(7) ("CAP_CHOWN" or "chown"), or "ALL".
	Drop, Add []string
	// Filesystems are the file system types the kernel has (as in
	// /proc/filesystems): a default mount of another type is left out (a
	// small kernel may lack mqueue, say). nil keeps every mount.
	Filesystems []string
}

// Spec returns the container's configuration; an unknown capability name
// is an error.
func Spec(o Options) (*specs.Spec, error) {
	if o.Root == "" || len(o.Args) == 0 {
		return nil, fmt.Errorf("oci: a container needs a root (%q) and a process (%q)", o.Root, o.Args)
	}
	caps, err := capabilities(o.Drop, o.Add)
	if err != nil {
		return nil, err
	}
	cwd := o.Cwd
	if cwd == "" {
		cwd = "/"
	}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal:        false,
			User:            specs.User{UID: 0, GID: 0},
			Args:            slices.Clone(o.Args),
			Env:             append([]string{DefaultPath}, o.Env...),
			Cwd:             cwd,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: o.Root},
		Hostname: o.Hostname,
		Mounts:   mounts(o.Filesystems),
		Linux:    linux(o.CgroupsPath),
	}, nil
}

// Config returns Spec(o) as config.json.
func Config(o Options) ([]byte, error) {
	s, err := Spec(o)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("oci: encode config: %w", err)
	}
	return append(b, '\n'), nil
}

// capabilities applies drop, then add, to DefaultCaps, in capability
// number order.
func capabilities(drop, add []string) ([]string, error) {
	set := map[cap.Value]bool{}
	for _, n := range DefaultCaps {
		v, _ := cap.FromName(strings.ToLower(n))
		set[v] = true
	}
	for _, change := range []struct {
		names []string
		keep  bool
	}{{drop, false}, {add, true}} {
		for _, n := range change.names {
			vals, err := capValues(n)
			if err != nil {
				return nil, err
			}
			for _, v := range vals {
				set[v] = change.keep
			}
		}
	}
	var out []string
	for v := cap.Value(0); v < cap.NamedCount; v++ {
		if set[v] {
			out = append(out, strings.ToUpper(v.String()))
		}
	}
	return out, nil
}

// capValues resolves one capability name, or ALL.
func capValues(name string) ([]cap.Value, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "all" {
		var all []cap.Value
		for v := cap.Value(0); v < cap.NamedCount; v++ {
			all = append(all, v)
		}
		return all, nil
	}
	if !strings.HasPrefix(n, "cap_") {
		n = "cap_" + n
	}
	v, err := cap.FromName(n)
	if err != nil {
		return nil, fmt.Errorf("oci: unknown capability %q", name)
	}
	return []cap.Value{v}, nil
}

// mounts are runc's defaults (`runc spec`): proc, a tmpfs /dev with pts,
// shm and mqueue, and read-only sysfs and cgroups; those of a type the
// kernel lacks are left out.
func mounts(filesystems []string) []specs.Mount {
	all := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
	if filesystems == nil {
		return all
	}
	return slices.DeleteFunc(all, func(m specs.Mount) bool { return !slices.Contains(filesystems, m.Type) })
}

// linux holds the namespaces (not the network: see the package comment),
// runc's default device rule and masked paths.
func linux(cgroupsPath string) *specs.Linux {
	return &specs.Linux{
		Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
		},
		CgroupsPath: cgroupsPath,
		Resources:   &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		MaskedPaths: []string{
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
			"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
		},
		ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
	}
}
