// Command tsemlab-guest is the orchestrator inside the test VM. u-root's init
// runs it as uinit; it is not meant to be run on a host.
package main

import (
	"os"

	"github.com/tsemlab/tsemlab/orchestrator"
)

func main() {
	os.Exit(orchestrator.Main(os.Args))
}
