package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layout shared by the app and the reference (see the store package
// documentation), so that one loss check reads both.
const (
	keyPrefix = "azure-vote:"
	dimension = "pervote"
	votesKey  = keyPrefix + "votes"
	hoursKey  = keyPrefix + "usage-hours:" + dimension
	// hourLayout names an hour in usage keys: the UTC hour's start.
	hourLayout = "2006-01-02T15"
)

func usageKey(hour string) string { return keyPrefix + "usage:" + dimension + ":" + hour }

// reference is the bare reference server: the same Redis work as the app's
// vote and page, with go-redis and net/http alone. No router, templates,
// middleware, logging or metrics: the floor the app is measured against.
type reference struct {
	rdb          *redis.Client
	vote1, vote2 string
}

func (h *reference) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch {
	case r.URL.Path == "/readyz":
		if err := h.rdb.Ping(ctx).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		counts, err := h.rdb.HGetAll(ctx, votesKey).Result()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		h.page(w, counts)
	case r.URL.Path == "/" && r.Method == http.MethodPost:
		choice := r.PostFormValue("vote")
		if choice != h.vote1 && choice != h.vote2 {
			http.Error(w, "unknown vote", http.StatusBadRequest)
			return
		}
		now := time.Now().UTC().Truncate(time.Hour)
		hour := now.Format(hourLayout)
		var counts *redis.MapStringStringCmd
		_, err := h.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HIncrBy(ctx, votesKey, choice, 1)
			p.Incr(ctx, usageKey(hour))
			p.ZAdd(ctx, hoursKey, redis.Z{Score: float64(now.Unix()), Member: hour})
			counts = p.HGetAll(ctx, votesKey)
			return nil
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		h.page(w, counts.Val())
	default:
		http.NotFound(w, r)
	}
}

// page writes the results line in the app's format.
func (h *reference) page(w http.ResponseWriter, counts map[string]string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!DOCTYPE html>\n<title>Vote</title>\n<div id=\"results\">%s - %s | %s - %s</div>\n",
		h.vote1, zeroIfEmpty(counts[h.vote1]), h.vote2, zeroIfEmpty(counts[h.vote2]))
}

func zeroIfEmpty(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// serveReference is the reference's process: the bench starts itself with
// the serve-reference command, so that the reference's memory is its own.
func serveReference(args []string) error {
	fs := flag.NewFlagSet("serve-reference", flag.ContinueOnError)
	port := fs.Int("port", 0, "port of 127.0.0.1 to listen on")
	redisAddr := fs.String("redis", "", "host:port of the Redis server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port == 0 || *redisAddr == "" {
		return errors.New("serve-reference: -port and -redis are required")
	}
	// Like the app's store: no retries, so that a vote is never sent twice.
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, MaxRetries: -1})
	defer rdb.Close()
	srv := &http.Server{
		Addr:              "127.0.0.1:" + strconv.Itoa(*port),
		Handler:           &reference{rdb: rdb, vote1: "Cats", vote2: "Dogs"},
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
