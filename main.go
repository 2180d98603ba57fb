// Command azure-vote is the voting app of the Azure Marketplace custom-meter
// sample: a two-choice vote whose every vote is billed as usage of the
// `pervote` dimension, reported hourly to the Marketplace Metering Service.
//
//	azure-vote                     serve the app (configuration from the environment)
//	azure-vote report              run one metering pass and exit
//	azure-vote settle HOUR --as accepted|carry --reason "..."  settle an unresolved hour
//	azure-vote emulator -addr :8090  serve the metering API emulator alone
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// go-redis has only a process-wide logger; the process is ours here.
	redis.SetLogger(redisLog{newLogger(os.Stderr, slog.LevelInfo)})
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "azure-vote:", err)
		os.Exit(1)
	}
}

// run dispatches the subcommands; it is main without the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stderr)
	case "report":
		return reportOnce(ctx, getenv, stderr)
	case "settle":
		return settleHour(ctx, args, getenv, stderr)
	case "emulator":
		return serveEmulator(ctx, args, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stderr, "azure-vote", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, commandsHelp)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, commandsHelp)
}

const commandsHelp = `usage:
  azure-vote                        serve the vote app (settings from the environment, see README)
  azure-vote report                 run one metering pass with the same lock and ledger, then exit
  azure-vote settle HOUR --as accepted|carry --reason "..." [--by NAME]
                                    settle an unresolved hour after checking Partner Center
  azure-vote emulator [-addr :8090] serve the Marketplace Metering API emulator alone
  azure-vote version                print the version
`

func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) (err error) {
	logs := newLogBuffer(stderr, 100*time.Millisecond)
	defer func() {
		if cerr := logs.Close(); err == nil {
			err = cerr
		}
	}()
	m, err := NewMain(getenv, logs)
	if err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		_ = m.Close()
		return err
	}
	// A plain line among the JSON logs, for whoever ran `go run .`.
	fmt.Fprintln(logs, m.Greeting())
	<-ctx.Done()
	m.Drain(m.Config.ShutdownDrain)
	m.Logger.Info("shutting down")
	return m.Close()
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// redisLog keeps go-redis's own messages (a dial failure per call while
// Redis is away) out of stderr's plain text: they go to the JSON log at
// debug level, since /readyz, the 503s and our own log lines already tell.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
