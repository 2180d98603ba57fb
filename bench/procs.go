package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a server may take to become ready.
const startTimeout = 15 * time.Second

// proc is a server process the bench started and must stop.
type proc struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
	waitErr error         // valid after exited is closed
	logPath string
}

// startProc runs bin with args and env, its output going to logPath.
func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: create log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	logFile.Close() // the child holds its own descriptor
	if err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// memStatus is the memory of a process as /proc/<pid>/status tells it, in
// bytes.
type memStatus struct {
	PeakRSS int64 // VmHWM: the high-water mark of the resident set
	// RssAnon (heap, stacks) and RssFile (mapped binary and libraries) split
	// the resident set at the time of reading.
	RssAnon, RssFile int64
}

// memory reads the process's memory status.
func (p *proc) memory() (memStatus, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
	if err != nil {
		return memStatus{}, fmt.Errorf("%s: memory: %w", p.name, err)
	}
	defer f.Close()
	m, err := parseMemStatus(f)
	if err != nil {
		return memStatus{}, fmt.Errorf("%s: memory: %w", p.name, err)
	}
	return m, nil
}

// parseMemStatus reads the VmHWM, RssAnon and RssFile lines of a
// /proc/<pid>/status file; VmHWM is required.
func parseMemStatus(status io.Reader) (memStatus, error) {
	var m memStatus
	fields := map[string]*int64{"VmHWM": &m.PeakRSS, "RssAnon": &m.RssAnon, "RssFile": &m.RssFile}
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		dst := fields[name]
		if !ok || dst == nil {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		kib, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" {
			return memStatus{}, fmt.Errorf("unexpected line %q", sc.Text())
		}
		*dst = kib << 10
	}
	if err := sc.Err(); err != nil {
		return memStatus{}, err
	}
	if m.PeakRSS == 0 {
		return memStatus{}, errors.New("no VmHWM line")
	}
	return m, nil
}

// stop asks the process to end (SIGTERM), as an orchestrator would, and
// kills it if it has not within the grace period.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited early: %v%s", p.name, p.waitErr, p.logTail())
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 10s of SIGTERM; killed", p.name)
	}
}

// logTail is the end of the process's log, to explain a failure.
func (p *proc) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil || len(data) == 0 {
		return ""
	}
	const keep = 2000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return "\n--- " + p.logPath + " (end) ---\n" + string(bytes.TrimSpace(data))
}

// waitHTTP polls url until it answers 200, the process exits or the start
// timeout passes.
func (p *proc) waitHTTP(ctx context.Context, url string) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if werr := p.waitOrExit(ctx, deadline, err); werr != nil {
			return fmt.Errorf("%s: not ready at %s: %w", p.name, url, werr)
		}
	}
}

// waitOrExit sleeps before the next readiness probe; it fails if the
// process has exited or the deadline has passed.
func (p *proc) waitOrExit(ctx context.Context, deadline time.Time, lastErr error) error {
	if time.Now().After(deadline) {
		return fmt.Errorf("no answer within %s (last: %v)%s", startTimeout, lastErr, p.logTail())
	}
	select {
	case <-p.exited:
		return fmt.Errorf("exited: %v%s", p.waitErr, p.logTail())
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(20 * time.Millisecond):
		return nil
	}
}

// startServing runs a server as startProc does and waits until
// base+"/readyz" answers; a server that never gets ready is stopped.
func startServing(ctx context.Context, name, bin string, args, env []string, logPath, base string) (*proc, error) {
	p, err := startProc(name, bin, args, env, logPath)
	if err != nil {
		return nil, err
	}
	if err := p.waitHTTP(ctx, base+"/readyz"); err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

// startOnFreePort starts a server on a port the kernel just gave out. The
// port can be taken by another process before the server binds it, so a
// server that fails to start is tried again on another port.
func startOnFreePort(start func(port int) (*proc, error)) (*proc, int, error) {
	const attempts = 3
	var err error
	for range attempts {
		var port int
		if port, err = freePort(); err != nil {
			return nil, 0, err
		}
		var p *proc
		if p, err = start(port); err == nil {
			return p, port, nil
		}
	}
	return nil, 0, err
}

// freePort asks the kernel for an unused port of 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis runs a redis-server that keeps nothing on disk, on a free port
// of 127.0.0.1 (never the shared 6379), and waits for its PING.
func startRedis(ctx context.Context, dir string) (*proc, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("redis-server is not on PATH (%w); install it with: apt-get install -y redis-server", err)
	}
	var addr string
	p, _, err := startOnFreePort(func(port int) (*proc, error) {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return startRedisOn(ctx, bin, "redis-server", dir, port)
	})
	return p, addr, err
}

// startRedisOn runs redis-server bin on port with dir as its directory and
// extra arguments after the defaults (nothing saved), and waits for its PING.
func startRedisOn(ctx context.Context, bin, name, dir string, port int, extra ...string) (*proc, error) {
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--logfile", "",
	}, extra...)
	p, err := startProc(name, bin, args, os.Environ(), filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	if err := p.waitPing(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

func (p *proc) waitPing(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if werr := p.waitOrExit(ctx, deadline, err); werr != nil {
			return fmt.Errorf("%s on %s: %w", p.name, addr, werr)
		}
	}
}

// serverEnv is the environment of a server the bench starts: only what the
// process needs to run plus the Go runtime's knobs, so that settings of
// the caller's shell (REDIS, PORT...) cannot change what is measured.
func serverEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "PATH", "HOME", "TMPDIR", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG":
			env = append(env, kv)
		}
	}
	// No private listener: it is not measured, and a fixed port could be taken.
	env = append(env, "METRICS_PORT=0")
	return append(env, extra...)
}

// clockTicks is USER_HZ, the unit of the CPU times of /proc/<pid>/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is the CPU the process has used so far, user and system, all
// threads.
func (p *proc) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("%s: cpu time: %w", p.name, err)
	}
	d, err := parseStatCPU(string(data))
	if err != nil {
		return 0, fmt.Errorf("%s: cpu time: %w", p.name, err)
	}
	return d, nil
}

// parseStatCPU reads utime and stime from a /proc/<pid>/stat line. The
// command name, in parentheses, may hold spaces, so fields are counted from
// the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat line")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("short stat line")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat field %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
