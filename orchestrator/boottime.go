package orchestrator

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/orchestrator/guestinit"
	"github.com/tsemlab/tsemlab/protocol"
)

// started is the guest's uptime when this program started.
var started = uptime()

// newHello describes the kernel and where its boot time went: init's and
// the orchestrator's start, loading modules (modulesTook), describing.
func newHello(modules []string, modulesTook time.Duration) protocol.Hello {
	t := uptime()
	h := describe()
	h.Modules = modules
	h.InitStart = protocol.Duration(initRun("/dev/kmsg"))
	h.InitMain = protocol.Duration(initMain)
	h.InitReady = protocol.Duration(initReady)
	h.OrchestratorStart = protocol.Duration(started)
	h.ModulesTook = protocol.Duration(modulesTook)
	h.DescribeTook = protocol.Duration(uptime() - t)
	return h
}

// When init's main ran and when it was ready, from the environment it
// gave this program (taken out of it: the steps' environment stays as it
// was).
var (
	initMain  = takeUptime(guestinit.EnvMain)
	initReady = takeUptime(guestinit.EnvReady)
)

// takeUptime is the guest uptime init put in the environment variable name
// (nanoseconds), or 0; it unsets the variable.
func takeUptime(name string) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return 0
	}
	_ = os.Unsetenv(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n)
}

// initRun is when the kernel started /init, from its "Run /init as init
// process" record in the kernel log (pid 1 itself exists long before it
// execs /init), or 0 when the record is gone.
func initRun(path string) time.Duration {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EPIPE) {
			continue
		}
		if err != nil || n <= 0 {
			return 0
		}
		if at, ok := recordTime(string(buf[:n]), "Run /init as init process"); ok {
			return at
		}
	}
}

// recordTime is the time after boot of a /dev/kmsg record
// ("PRIO,SEQ,USEC,FLAGS;TEXT") whose text starts with prefix.
func recordTime(record, prefix string) (time.Duration, bool) {
	head, text, ok := strings.Cut(record, ";")
	if !ok || !strings.HasPrefix(text, prefix) {
		return 0, false
	}
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return 0, false
	}
	usec, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond, true
}
