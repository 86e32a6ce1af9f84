//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package engine

import "os"

// flock is not available on this platform: the state directory is not
// locked, and running two processes on one is the user's to avoid.
func flock(*os.File) error { return nil }

func funlock(*os.File) {}
