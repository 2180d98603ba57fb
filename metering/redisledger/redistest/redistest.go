// Package redistest runs a real, throw-away redis-server for tests.
//
// Every server listens on a free port of 127.0.0.1 (never the shared 6379),
// keeps nothing on disk and is killed when the test ends:
//
//	srv := redistest.Start(t)
//	opts := &redis.UniversalOptions{Addrs: []string{srv.Addr()}}
//
// Stop and Restart kill and bring back the server on the same port, Pause and
// Resume stall it, for tests of what a client does while Redis is away.
// StartCluster runs a Redis Cluster of three masters and three replicas, and
// StartSentinel a master, a replica and three Sentinels, with their
// failovers.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstallHint is the command that provides redis-server on the project's
// Debian-based machines and images.
const InstallHint = "apt-get install -y redis-server"

// startTimeout bounds how long a server may take to answer its first PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process owned by a test.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	// args is the command line for a port; the standalone server's by
	// default, a cluster node's, a replica's or a Sentinel's otherwise.
	args func(port int) ([]string, error)

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	out    *syncBuffer   // the server's log, shown when it fails to start
	client *redis.Client
}

// Start runs a redis-server on a free port and waits until it answers PING.
// The server is killed, and its client closed, in tb.Cleanup. A missing
// redis-server fails the test with the command that installs it.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, nil)
}

// start runs a server whose command line is args(s, port, base), base being
// the standalone server's; nil args is a standalone server.
func start(tb testing.TB, args func(s *Server, port int, base []string) ([]string, error)) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: redis-server is not on PATH (%v); install it with: %s", err, InstallHint)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	s.args = func(port int) ([]string, error) {
		base := []string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--dir", s.dir,
			"--daemonize", "no",
			"--logfile", "",
		}
		if args == nil {
			return base, nil
		}
		return args(s, port, base)
	}
	tb.Cleanup(s.cleanup)

	// A free port found by listening can be taken by someone else before the
	// server binds it; another port is then tried.
	const attempts = 3
	for i := 1; ; i++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s.port = port
		err = s.start()
		if err == nil {
			return s
		}
		if i == attempts {
			tb.Fatalf("redistest: %v", err)
		}
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Client is a client of the server for the test's own reads and writes. It
// is created once and closed in Cleanup; it reconnects after a Restart, and
// fails fast while the server is stopped.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: 1, DialerRetries: 1})
	}
	return s.client
}

// Pause stops the server's process (SIGSTOP): it keeps its connections and
// answers nothing, as a stalled or swapped-out server would, until Resume.
func (s *Server) Pause() {
	s.tb.Helper()
	s.signal(pauseSignal)
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.tb.Helper()
	s.signal(resumeSignal)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig == 0 {
		s.tb.Skip("redistest: pausing a process is supported on Linux only")
	}
	if s.cmd == nil {
		s.tb.Fatalf("redistest: %v to a stopped server", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: %v: %v", sig, err)
	}
}

// Stop kills the server at once (SIGKILL), as a crash or a lost node would,
// and waits for the process to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

// Restart kills the server if it runs and starts a new one on the same port
// and directory. Nothing is kept across it: the server saves nothing.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	s.kill()
	s.mu.Unlock()
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

// running reports whether the process runs (or is paused).
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// start runs the server on s.port and waits for its PING.
func (s *Server) start() error {
	out := &syncBuffer{}
	args, err := s.args(s.port)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed on purpose or failed to start: the log tells
		close(exited)
	}()

	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()

	if err := s.waitReady(exited); err != nil {
		s.mu.Lock()
		s.kill()
		s.mu.Unlock()
		return fmt.Errorf("redis-server on port %d: %w\n%s", s.port, err, out.String())
	}
	return nil
}

// waitReady polls PING on a private connection until the server answers.
func (s *Server) waitReady(exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{
		Addr:        s.Addr(),
		DialTimeout: 200 * time.Millisecond,
		MaxRetries:  -1,
		PoolSize:    1,
	})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before answering PING")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %s: %w", startTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill ends the process, if any, and waits for it. s.mu must be held.
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // SIGKILL; already gone is fine
	<-s.exited
	s.cmd, s.exited = nil, nil
}

func (s *Server) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
	s.kill()
}

// freePort asks the kernel for an unused port of 127.0.0.1.
// SharedPort is Redis's default port, where a machine's own Redis (and
// someone's data) may listen: no server of this package ever takes it.
const SharedPort = 6379

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects the server's output, written by exec's copying goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
