package web

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

// requestInfo is what the layers of one request share: its id, and the
// status and size of its answer. It is the request's only wrapper of the
// ResponseWriter, and one allocation per request.
type requestInfo struct {
	http.ResponseWriter
	id     string
	status int
	bytes  int
}

func (ri *requestInfo) WriteHeader(code int) {
	// 1xx answers (103 Early Hints) come before the real one.
	if ri.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		ri.status = code
	}
	ri.ResponseWriter.WriteHeader(code)
}

func (ri *requestInfo) Write(p []byte) (int, error) {
	if ri.status == 0 {
		ri.status = http.StatusOK
	}
	n, err := ri.ResponseWriter.Write(p)
	ri.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush, Hijack, deadlines).
func (ri *requestInfo) Unwrap() http.ResponseWriter { return ri.ResponseWriter }

// requestID is the id of the request w answers, "" outside trackRequests.
// It is found through the writer, not the context: a context value would
// cost every request a copy of its *http.Request.
func requestID(w http.ResponseWriter) string {
	for {
		switch t := w.(type) {
		case *requestInfo:
			return t.id
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return ""
		}
	}
}

// requestIDs numbers requests: a random prefix per process, so that the
// ids of several replicas in one log never collide, and a sequence.
type requestIDs struct {
	prefix string
	seq    atomic.Uint64
}

func newRequestIDs() *requestIDs { return &requestIDs{prefix: rand.Text()[:10] + "-"} }

// maxRequestIDLen bounds an id taken from the client's X-Request-Id.
const maxRequestIDLen = 64

// next is the client's X-Request-Id when it is a plausible one (a proxy in
// front sets it, and the logs then join up), else a new id.
func (ids *requestIDs) next(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= maxRequestIDLen && printableASCII(id) {
		return id
	}
	var b [32]byte
	return string(strconv.AppendUint(append(b[:0], ids.prefix...), ids.seq.Add(1), 10))
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// trackRequests gives each request an id and, when logged, writes one JSON
// line per request and records its metrics. The form body and headers are
// never logged: they may carry credentials.
func (s *Server) trackRequests(logged bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ri := &requestInfo{ResponseWriter: w, id: s.requestIDs.next(r)}
			next.ServeHTTP(ri, r)
			if !logged {
				return
			}
			status := ri.status
			if status == 0 {
				status = http.StatusOK
			}
			end := time.Now()
			d := end.Sub(start)
			s.opts.Metrics.observeRequest(r, status, d)
			// To the handler itself: Logger.LogAttrs would unwind the stack
			// for a source position that the line never shows.
			h := s.log.Handler()
			if !h.Enabled(r.Context(), slog.LevelInfo) {
				return
			}
			line := slog.NewRecord(end, slog.LevelInfo, "request", 0)
			line.AddAttrs(
				slog.String("request_id", ri.id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int("bytes", ri.bytes),
				slog.Duration("duration", d),
			)
			_ = h.Handle(r.Context(), line)
		})
	}
}

// recoverPanics turns a panic into a plain 500; the stack goes to the log only.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "value", v, "stack", string(debug.Stack()),
					"request_id", requestID(w))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// headAsGet routes HEAD as GET: probes and monitors use HEAD, no route
// here answers HEAD differently, and net/http sends no body to a HEAD.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			if rctx := chi.RouteContext(r.Context()); rctx != nil {
				rctx.RouteMethod = http.MethodGet
			}
		}
		next.ServeHTTP(w, r)
	})
}
