package orchestrator

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// maxKernelLines bounds the kernel log lines attached to one step; the
// rest are counted (an untrusted shell can log thousands).
const maxKernelLines = 64

// refusalLine matches the kernel log lines that say a security module
// refused or flagged an action: TSEM's events of untrusted tasks, AppArmor
// denials, seccomp audit records.
var refusalLine = regexp.MustCompile(`Untrusted event [a-z_0-9]+: model_ns=|apparmor="DENIED"|type=1326 audit`)

// untrustedNS finds the namespace of a TSEM "Untrusted event" line.
var untrustedNS = regexp.MustCompile(`Untrusted event [a-z_0-9]+: model_ns=(\d+), comm=.*, pid=(\d+)`)

// kmsg reads the kernel log from /dev/kmsg, from where it was opened on,
// without blocking: a step's refusal lines are what the kernel printed
// while it ran. A namespace leader opens it before creating its namespace
// and afterwards only reads it, like its other descriptors.
//
// It uses the raw descriptor: an *os.File of a non-blocking descriptor
// would park in Go's poller instead of returning EAGAIN.
type kmsg struct {
	mu sync.Mutex
	fd int
}

// openKmsg opens the kernel log positioned at its end. A guest without
// /dev/kmsg gets a reader that never reports anything.
func openKmsg(path string) *kmsg {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &kmsg{fd: -1}
	}
	// SEEK_END on /dev/kmsg moves past every record logged so far.
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return &kmsg{fd: -1}
	}
	return &kmsg{fd: fd}
}

// drain returns the messages logged since the last call.
func (k *kmsg) drain() []string {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fd < 0 {
		return nil
	}
	var out []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EPIPE) {
			// Records were overwritten before we read them; the read
			// position has moved on to the oldest one left.
			continue
		}
		if err != nil || n <= 0 {
			return out
		}
		out = append(out, kmsgText(string(buf[:n])))
	}
}

// kmsgText is the message of one /dev/kmsg record
// ("6,1234,5678901,-;text\n continuation lines").
func kmsgText(rec string) string {
	if i := strings.IndexByte(rec, ';'); i >= 0 {
		rec = rec[i+1:]
	}
	if i := strings.IndexByte(rec, '\n'); i >= 0 {
		rec = rec[:i]
	}
	return rec
}

// refusals keeps the refusal lines of lines that belong to a step run in
// TSEM namespace ns ("" outside one): TSEM lines of other namespaces, and
// of process exclude (the namespace leader, which is not the step), are
// dropped. At most maxKernelLines are kept; the rest are counted.
func refusals(lines []string, ns string, exclude int) (kept []string, dropped int) {
	for _, l := range lines {
		if !refusalLine.MatchString(l) {
			continue
		}
		if m := untrustedNS.FindStringSubmatch(l); m != nil {
			if m[1] != ns || m[2] == strconv.Itoa(exclude) {
				continue
			}
		}
		if len(kept) == maxKernelLines {
			dropped++
			continue
		}
		kept = append(kept, strings.TrimSpace(l))
	}
	return kept, dropped
}
