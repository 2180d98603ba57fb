package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBuffer gathers log lines into fewer writes. With a JSON line per
// request, one write(2) per line costs more than the rest of the request
// log; buffered, a line waits at most one flush interval, and Close writes
// out what is left.
type logBuffer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogBuffer(w io.Writer, every time.Duration) *logBuffer {
	b := &logBuffer{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				_ = b.flush()
			}
		}
	}()
	return b
}

// Write buffers p; slog writes one whole line per call.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close stops the flusher and writes out what is buffered.
func (b *logBuffer) Close() error {
	close(b.stop)
	<-b.done
	return b.flush()
}
