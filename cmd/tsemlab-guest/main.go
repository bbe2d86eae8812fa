//go:debug decoratemappings=0

// Command tsemlab-guest is the orchestrator inside the test VM. The guest's
// init (tsemlab-init) starts it; it is not meant to be run on a host.
//
// decoratemappings=0: since Go 1.25 the runtime names its anonymous
// mappings with prctl(PR_SET_VMA), passing the mapping's address, each
// time the heap grows. TSEM models that call with its arguments, and when
// the heap grows differs from run to run, so a namespace leader would
// leave its own model (seen on a TSEM kernel: "tsemlab-guest task_prctl"
// in the forensics of an enforced phase).
package main

import (
	"os"

	"github.com/tsemlab/tsemlab/orchestrator"
)

func main() {
	os.Exit(orchestrator.Main(os.Args))
}
