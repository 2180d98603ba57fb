package main

import (
	"strings"
	"testing"
	"time"
)

// Lines reach the output by the flush interval at the latest, and Close
// writes out the rest.
func TestLogBuffer(t *testing.T) {
	out := &syncBuffer{}
	b := newLogBuffer(out, 10*time.Millisecond)
	if _, err := b.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the periodic flush", func() bool { return out.String() == "first\n" })

	slow := &syncBuffer{}
	b2 := newLogBuffer(slow, time.Hour)
	for range 3 {
		b2.Write([]byte("line\n"))
	}
	if slow.String() != "" {
		t.Fatalf("written before a flush: %q", slow.String())
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := slow.String(); got != strings.Repeat("line\n", 3) {
		t.Fatalf("after Close: %q", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
