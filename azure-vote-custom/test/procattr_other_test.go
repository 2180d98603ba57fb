//go:build !linux

package test

import "os/exec"

func dieWithTest(*exec.Cmd) {}
