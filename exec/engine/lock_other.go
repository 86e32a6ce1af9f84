//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package engine

import "os"

// flock is not available on this platform: the state directory is not
// locked, and running two processes on one is the user's to avoid.
func flock(*os.File) error { return nil }

// stateLockable: without flock, a free lock says nothing about a running
// apply.
const stateLockable = false

func funlock(*os.File) {}
