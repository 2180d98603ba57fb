//go:build !linux

package redistest

import "syscall"

// sysProcAttr: only Linux can tie the server's life to the test binary's;
// elsewhere Cleanup alone stops it.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// Pause and Resume are not supported here: they skip the test.
const (
	pauseSignal  syscall.Signal = 0
	resumeSignal syscall.Signal = 0
)
