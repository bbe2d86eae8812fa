package orchestrator

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/protocol"
)

// started is the guest's uptime when this program started.
var started = uptime()

// clockTicks is USER_HZ, the unit of /proc/PID/stat's start time: 100 on
// every architecture Linux builds for x86.
const clockTicks = 100

// newHello describes the kernel and where its boot time went: init's and
// the orchestrator's start, loading modules (modulesTook), describing.
func newHello(modules []string, modulesTook time.Duration) protocol.Hello {
	t := uptime()
	h := describe()
	h.Modules = modules
	if stat, err := os.ReadFile("/proc/1/stat"); err == nil {
		if at, err := startTime(string(stat)); err == nil {
			h.InitStart = protocol.Duration(at)
		}
	}
	h.OrchestratorStart = protocol.Duration(started)
	h.ModulesTook = protocol.Duration(modulesTook)
	h.DescribeTook = protocol.Duration(uptime() - t)
	return h
}

// startTime is when a process started after boot, from its /proc/PID/stat
// line (field 22, in clock ticks; the command name in parentheses may hold
// spaces).
func startTime(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat line without a command name: %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state is field 3, starttime field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("stat line with %d fields after the name", len(f))
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat start time: %w", err)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
