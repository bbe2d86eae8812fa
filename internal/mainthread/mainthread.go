// Package mainthread makes a Go program that imports it (for its side
// effect) run its main function on the process's main thread, from start
// to exit.
//
// TSEM (at least the 6.12 revision tsemlab was measured on) gives each new
// task its creator's task id as its parent task id, threads included: a
// process's main thread carries (its id, its parent's id) and every other
// thread (its id, its id). The parent id enters every event's coefficient,
// so an event a Go program makes from a thread other than its main one is
// a different event. The Go scheduler moves a goroutine between threads
// after blocking system calls, so without this package the same `cat`
// opens a file from the main thread in one run and from another thread
// in the next, and its open is in the learned model or out of it by
// chance (seen on a defconfig TSEM kernel: 3 of 100 u-root cat runs made
// their last open from another thread).
//
// Locking the OS thread in an init function keeps the main goroutine on
// the main thread for the program's life (see runtime.LockOSThread). The
// guest's u-root busybox links this package through the mainthread
// command, and u-root's busybox runs every linked library package's
// initializers whichever command it is started as (only a command's own
// package's are run for that command alone), so every u-root command in
// the guest does its work on its main thread.
package mainthread

import "runtime"

func init() { runtime.LockOSThread() }
