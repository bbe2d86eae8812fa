// Command mainthread prints its process id and the id of the thread its
// main function runs on, which are the same: it links package
// internal/mainthread, and it is in the guest's u-root busybox so that
// every command there links it too (see that package).
package main

import (
	"fmt"
	"os"
	"syscall"

	_ "github.com/tsemlab/tsemlab/internal/mainthread"
)

func main() {
	fmt.Printf("pid %d tid %d\n", os.Getpid(), syscall.Gettid())
}
