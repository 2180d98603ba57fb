//go:build !linux

package main

import "syscall"

// Stalling a server is measured on Linux only.
const (
	pauseSignal  syscall.Signal = 0
	resumeSignal syscall.Signal = 0
)
