// Command tsemlab-init is the test VM's init (pid 1): see package
// guestinit. It is not meant to be run on a host.
package main

import (
	"fmt"
	"os"

	"github.com/tsemlab/tsemlab/orchestrator/guestinit"
)

func main() {
	// It mounts over /dev and /proc and ends the machine it runs on:
	// never anywhere but as a guest's pid 1.
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "tsemlab-init is the init of tsemlab's test VM (pid 1), not a program to run on a host")
		os.Exit(2)
	}
	guestinit.Main()
}
