package web

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/usage"
)

// UsageSource is the metering side as the usage page needs it.
type UsageSource interface {
	// Usage returns the report of the window that starts at since, and how
	// reporting is set up. A failing Metering API call is reported in the
	// report's Service, not as an error: the error is for a ledger that
	// cannot be read.
	Usage(ctx context.Context, since time.Time) (Usage, error)
}

// ReconcileTimeout is what a UsageSource may spend asking the Metering API
// during one page view, on top of the store's own time.
const ReconcileTimeout = 5 * time.Second

// Usage is what a UsageSource knows: the metering kit's report, and how
// reporting is set up, which the page says beside it.
type Usage struct {
	Mode     string // local, azure or paused
	Detail   string // the resource and plan, or why reporting waits
	Resource string
	Plan     string
	Endpoint string // the Metering API reported to
	// NextPass is when the schedule runs the next reporting pass; zero
	// when reporting is paused.
	NextPass time.Time
	// Currency is written with amounts (METERING_CURRENCY); empty writes
	// none.
	Currency string
	// DemoSpeed is how many times faster than real time the app's clock
	// runs; 0 is the wall clock.
	DemoSpeed float64
	Report    usage.Report
}

// UsageReport is the body of GET /api/usage and what /usage renders: the
// source's Usage laid out in the order scripts have always read it, with
// the window asked for and the page's top line.
type UsageReport struct {
	Mode       string         `json:"mode"`   // local, azure or paused
	Detail     string         `json:"detail"` // the resource and plan, or why reporting waits
	Resource   string         `json:"resource,omitempty"`
	Plan       string         `json:"plan,omitempty"`
	Endpoint   string         `json:"endpoint,omitempty"` // the Metering API reported to
	Dimension  string         `json:"dimension"`
	LastReport time.Time      `json:"lastReport,omitzero"` // end of the last reporting pass
	NextPass   time.Time      `json:"nextPass,omitzero"`
	Service    usage.Service  `json:"service"`
	Charges    *usage.Charges `json:"charges,omitempty"` // nil: no price configured
	Currency   string         `json:"currency,omitempty"`
	// Earlier counts the hours before the window whose last send failed
	// or that are unresolved: the top of the page counts them too,
	// whatever the window.
	Earlier   usage.Earlier `json:"earlier"`
	DemoSpeed float64       `json:"demoSpeed,omitempty"`
	// Hours are the ledger's hours of the window, newest first.
	Hours []usage.Hour `json:"hours"`
	// Attention is the page's top line: what is wrong now, and what to do.
	Attention      Attention    `json:"attention"`
	GeneratedAt    time.Time    `json:"generatedAt"`
	Window         string       `json:"window"` // 24h, 48h or 7d
	Since          time.Time    `json:"since"`  // first hour of the window
	Totals         usage.Totals `json:"totals"`
	Reconciliation []usage.Day  `json:"reconciliation"` // oldest day first
}

// Target names where usage is reported: Azure Marketplace, or the
// Metering API at another endpoint (an emulator).
func (r UsageReport) Target() string {
	if r.Endpoint == "" || r.Endpoint == metering.DefaultEndpoint {
		return "Azure Marketplace"
	}
	return "the Metering API at " + r.Endpoint
}

// usageWindow is a span of hours the page can show.
type usageWindow struct {
	Key   string
	Label string
	Hours int
	// Every is the spacing of the hour axis's labels.
	Every int
}

// usageWindows are the spans offered, the default first.
func usageWindows() []usageWindow {
	return []usageWindow{
		{"24h", "24 hours", 24, 3},
		{"48h", "48 hours", 48, 6},
		{"7d", "7 days", 7 * 24, 24},
	}
}

func windowOf(key string) (usageWindow, bool) {
	if key == "" {
		return usageWindows()[0], true
	}
	for _, w := range usageWindows() {
		if w.Key == key {
			return w, true
		}
	}
	return usageWindow{}, false
}

func (s *Server) loadUsage(w http.ResponseWriter, r *http.Request) (UsageReport, usageWindow, bool) {
	win, ok := windowOf(r.URL.Query().Get("window"))
	if !ok {
		s.writeError(w, r, badRequest("unknown window "+quote(r.URL.Query().Get("window"))+"; use 24h, 48h or 7d"))
		return UsageReport{}, win, false
	}
	now := s.opts.Now().UTC()
	since := metering.HourOf(now).Add(-time.Duration(win.Hours-1) * time.Hour)
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout+ReconcileTimeout)
	defer cancel()
	u, err := s.opts.Usage.Usage(ctx, since)
	if err != nil {
		s.opts.Metrics.storeError()
		s.writeError(w, r, unavailable("The usage ledger is unavailable; try again in a moment.", err))
		return UsageReport{}, win, false
	}
	return newUsageReport(u, win), win, true
}

// newUsageReport lays out what the source knows for the window win.
func newUsageReport(u Usage, win usageWindow) UsageReport {
	r := u.Report
	rep := UsageReport{
		Mode: u.Mode, Detail: u.Detail, Resource: u.Resource, Plan: u.Plan, Endpoint: u.Endpoint,
		Dimension: r.Dimension, LastReport: r.LastPass, NextPass: u.NextPass, Service: r.Service, Charges: r.Charges,
		Currency: u.Currency, Earlier: r.Earlier, DemoSpeed: u.DemoSpeed, Hours: r.Hours,
		GeneratedAt: r.GeneratedAt, Window: win.Key, Since: r.Since, Totals: r.Totals, Reconciliation: r.Reconciliation,
	}
	// Never null in the JSON, whatever the source.
	if rep.Hours == nil {
		rep.Hours = []usage.Hour{}
	}
	if rep.Service.Records == nil {
		rep.Service.Records = []metering.UsageRecord{}
	}
	rep.Attention = attention(rep)
	return rep
}

// usagePageData is what templates/usage.html renders.
type usagePageData struct {
	Page
	UsageReport
	// Dimension is the report's: both Page and UsageReport name one.
	Dimension string
	Windows   []windowLink
	Chart     chart
}

type windowLink struct {
	usageWindow
	Current bool
}

func (s *Server) usagePage(w http.ResponseWriter, r *http.Request) {
	rep, win, ok := s.loadUsage(w, r)
	if !ok {
		return
	}
	var links []windowLink
	for _, uw := range usageWindows() {
		links = append(links, windowLink{uw, uw.Key == win.Key})
	}
	s.render(w, r, "usage.html", usagePageData{
		Page: s.opts.Page, UsageReport: rep, Dimension: rep.Dimension, Windows: links,
		Chart: buildChart(rep.Hours, rep.Since, win),
	})
}

func (s *Server) usageJSON(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") == "csv" {
		s.usageCSV(w, r)
		return
	}
	rep, _, ok := s.loadUsage(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

// chart is the hourly bar chart, drawn in an SVG whose viewBox has one
// column of colWidth units per hour and a height of 100 units; it is
// stretched to the page's width, so the axis labels are HTML beside it.
type chart struct {
	Width    int // of the viewBox
	Bars     []bar
	DayLines []int       // x of each UTC midnight inside the window
	Hours    []hourLabel // one per column, most without text
	Ticks    []string    // y-axis labels, top first
	Legend   []legendItem
	Empty    bool
}

type bar struct {
	Hour     time.Time
	Quantity float64
	Status   usage.Status
	X, Y, H  float64
	W        float64
}

type hourLabel struct {
	Text  string
	Minor bool // left out where the chart is narrow
}

type legendItem struct {
	Status usage.Status
	Hours  int // hours of the window with the status
}

const colWidth = 10

func buildChart(hours []usage.Hour, since time.Time, win usageWindow) chart {
	c := chart{Width: win.Hours * colWidth}
	byHour := make(map[time.Time]usage.Hour, len(hours))
	var top float64
	for _, h := range hours {
		byHour[h.Hour] = h
		top = max(top, h.Counted)
	}
	scale := niceCeil(top)
	counts := map[usage.Status]int{}
	for i := range win.Hours {
		hour := since.Add(time.Duration(i) * time.Hour)
		var label hourLabel
		if hour.Hour() == 0 && i > 0 {
			c.DayLines = append(c.DayLines, i*colWidth)
		}
		if hour.Hour()%win.Every == 0 {
			label.Text = hour.Format("15:04")
			if hour.Hour() == 0 {
				label.Text = hour.Format("Jan 2")
			}
			if win.Every == 24 {
				label.Text = hour.Format("Mon 2")
			}
			label.Minor = win.Every < 24 && hour.Hour()%(2*win.Every) != 0
		}
		c.Hours = append(c.Hours, label)
		rec, ok := byHour[hour]
		if !ok || rec.Counted <= 0 {
			continue
		}
		// A bar of one vote in a busy day still shows.
		height := max(rec.Counted/scale*100, 1.5)
		st := rec.Status
		counts[st]++
		c.Bars = append(c.Bars, bar{
			Hour: hour, Quantity: rec.Counted, Status: st,
			X: float64(i*colWidth) + 1.5, W: colWidth - 3, Y: 100 - height, H: height,
		})
	}
	c.Empty = len(c.Bars) == 0
	c.Ticks = []string{formatQty(scale), formatQty(scale / 2), "0"}
	// The legend names the statuses the window has, each with its hours.
	for _, st := range chartStatuses() {
		if counts[st] > 0 {
			c.Legend = append(c.Legend, legendItem{st, counts[st]})
		}
	}
	return c
}

// niceCeil is the axis top for a largest value v: at least 2, and the
// next of 1, 2, 4, 6 or 8 times a power of ten, so that the middle tick is
// a whole number too.
func niceCeil(v float64) float64 {
	if v <= 2 {
		return 2
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 4, 6, 8} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
