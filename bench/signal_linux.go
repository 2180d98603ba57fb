package main

import "syscall"

// Signals that stall a server and let it go on (the -faults SIGSTOP run).
const (
	pauseSignal  = syscall.SIGSTOP
	resumeSignal = syscall.SIGCONT
)
