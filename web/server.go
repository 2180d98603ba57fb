// Package web is the HTTP face of azure-vote: the vote form, the usage page,
// health, readiness and metrics. Handlers are thin: parse, call the store or
// the metering view, render. The package declares the small interfaces it
// needs and knows nothing of Redis, bbolt or the metering API.
package web

import (
	"bytes"
	"context"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

// VoteStore keeps the vote counts and, in the same transaction, the usage
// counter that billing reads.
type VoteStore interface {
	// VoteOnce counts one vote for choice in the hour of at, unless a vote
	// with the same token was counted already, and returns the counts after
	// it and whether this vote counted. token "" always counts. An error
	// means the vote may or may not be stored: it is never acknowledged.
	VoteOnce(ctx context.Context, choice, token string, at time.Time) (counts map[string]int64, counted bool, err error)
	Counts(ctx context.Context) (map[string]int64, error)
	// Reset zeroes the displayed counts; usage is untouched.
	Reset(ctx context.Context) (map[string]int64, error)
	Ping(ctx context.Context) error
}

// Page is what the vote page shows besides the counts.
type Page struct {
	Title    string
	Vote1    string
	Vote2    string
	GetValue string // label of the button that leads to the usage page
	// Dimension is the custom meter a vote counts for (METERING_DIMENSION).
	Dimension string
}

// Options wires a Server.
type Options struct {
	Page    Page
	Store   VoteStore
	Usage   UsageSource // nil: /usage answers 404
	Assets  fs.FS       // holds templates/*.html and static/*
	Logger  *slog.Logger
	Metrics *Metrics // nil: no /metrics
	Now     func() time.Time
	// StoreTimeout bounds every store call of a request, so a vanished
	// store answers 503 quickly instead of hanging the request. The
	// default, 1.5s, leaves room for the rest of the request inside the
	// two seconds a voter may wait for that answer. The vote page's and
	// the vote's calls may end up to 10ms sooner: calls that start within
	// 10ms of each other share one deadline.
	StoreTimeout time.Duration
	// UsagePrivate serves /usage and /api/usage only on PrivateHandler,
	// and the vote page without its usage button.
	UsagePrivate bool
}

// Server serves the application's pages.
type Server struct {
	opts     Options
	pages    *template.Template
	votePage *indexPage // nil: the vote page is rendered per request
	// pageHeaders are set on every page (see writePage).
	pageHeaders http.Header
	log         *slog.Logger
	// bufs recycles render buffers: a page is rendered whole before the
	// first byte goes out, so a template error becomes a clean 500.
	bufs sync.Pool
	// pageBufs recycles the vote page's buffers (*[]byte).
	pageBufs sync.Pool
	// draining makes /readyz answer 503 while requests are still served.
	draining   atomic.Bool
	requestIDs *requestIDs
	deadlines  *storeDeadlines // bound the vote page's and the vote's store calls
}

// maxFormBytes bounds a form body: a vote is a few dozen bytes.
const maxFormBytes = 4 << 10

// NewServer parses the templates once, so a broken template fails at start.
func NewServer(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = 1500 * time.Millisecond
	}
	if o.UsagePrivate {
		o.Page.GetValue = "" // no button to a page this port does not serve
	}
	o.Store = watchStore(o.Store, o.Logger)
	pages, err := template.New("").Funcs(templateFuncs()).ParseFS(o.Assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	votePage, err := prerenderIndex(pages, o.Page)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, pages: pages, votePage: votePage, pageHeaders: pageHeaders(), log: o.Logger, requestIDs: newRequestIDs(),
		deadlines: &storeDeadlines{timeout: o.StoreTimeout}}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.pageBufs.New = func() any { return new([]byte) }
	return s, nil
}

// Handler is the whole application: routes behind the middleware.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	// GetHead answers HEAD on every GET route (probes and monitors use it).
	r.Use(s.trackRequests(true), s.recoverPanics, s.checkQuery, headAsGet)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	s.routeStatic(r)
	r.NotFound(s.notFound)
	r.Get("/favicon.ico", s.favicon)
	r.Get("/", s.index)
	r.Post("/", s.vote)
	if !s.opts.UsagePrivate {
		s.routeUsage(r)
	}
	// Browsers send Sec-Fetch-Site/Origin; a form posted from another site is refused with 403.
	return securityHeaders(http.NewCrossOriginProtection().Handler(r))
}

// PrivateHandler serves what stays inside the cluster, on a port no public
// Service exposes: /metrics, health, and the usage page when UsagePrivate.
func (s *Server) PrivateHandler() http.Handler {
	r := chi.NewRouter()
	// Not logged: a scrape every few seconds would drown the request log.
	r.Use(s.trackRequests(false), s.recoverPanics, s.checkQuery, headAsGet)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if s.opts.Metrics != nil {
		r.Handle("/metrics", s.opts.Metrics.Handler())
	}
	if s.opts.UsagePrivate {
		s.routeStatic(r)
		r.NotFound(s.notFound)
		r.Get("/favicon.ico", s.favicon)
		s.routeUsage(r)
	}
	return securityHeaders(http.NewCrossOriginProtection().Handler(r))
}

func (s *Server) routeStatic(r chi.Router) {
	if static, err := fs.Sub(s.opts.Assets, "static"); err == nil {
		r.Get("/static/*", http.StripPrefix("/static/", staticFiles(static)).ServeHTTP)
	}
}

func (s *Server) routeUsage(r chi.Router) {
	if s.opts.Usage != nil {
		r.Get("/usage", s.usagePage)
		r.Get("/api/usage", s.usageJSON)
		r.Get("/api/usage.csv", s.usageCSV)
	}
}

// Drain makes /readyz answer 503 from now on, while every route still
// serves: the first step of a graceful stop, so that load balancers take
// the instance out before it stops listening.
func (s *Server) Drain() { s.draining.Store(true) }

// staticFiles serves embedded assets with a cache lifetime: they change
// only with the binary. Directories are not listed: the assets a page
// needs are named by the page.
func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		if st, err := fs.Stat(fsys, name); err == nil && st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// NewHTTPServer wraps h with the timeouts every public server needs.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
