package web

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// UsageSource is the metering side as the usage page needs it.
type UsageSource interface {
	// Usage returns the ledger's hours from since on, newest first, with
	// what the Metering API says it recorded and the month's charges. A
	// failing API call is reported in Usage.Service, not as an error: the
	// error is for a ledger that cannot be read.
	Usage(ctx context.Context, since time.Time) (Usage, error)
}

// ReconcileTimeout is what a UsageSource may spend asking the Metering API
// during one page view, on top of the store's own time.
const ReconcileTimeout = 5 * time.Second

// ledgerRetention is how far back a UsageSource gives every hour: the
// stores' history reads the last 31 days, so older days cannot be
// reconciled hour by hour.
const ledgerRetention = 31 * 24 * time.Hour

// Usage is what a UsageSource knows.
type Usage struct {
	Mode      string `json:"mode"`   // local, azure or paused
	Detail    string `json:"detail"` // the resource and plan, or why reporting waits
	Resource  string `json:"resource,omitempty"`
	Plan      string `json:"plan,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"` // the Metering API reported to`
	Dimension string `json:"dimension"`
	// Hours are the ledger, newest first.
	Hours      []metering.Record `json:"hours"`
	LastReport time.Time         `json:"lastReport,omitzero"`
	// NextPass is when the schedule runs the next reporting pass; zero
	// when reporting is paused.
	NextPass time.Time `json:"nextPass,omitzero"`
	Service  Service   `json:"service"`
	Charges  *Charges  `json:"charges,omitempty"` // nil: no price configured
	// Currency is written before amounts (METERING_CURRENCY); empty
	// writes none.
	Currency string `json:"currency,omitempty"`
	// Earlier counts the hours before the window whose last send failed
	// or that are unresolved: the top of the page counts them too,
	// whatever the window.
	Earlier Earlier `json:"earlier"`
	// DemoSpeed is how many times faster than real time the app's clock
	// runs; 0 is the wall clock.
	DemoSpeed float64 `json:"demoSpeed,omitempty"`
}

// Earlier are the problems of hours before the window.
type Earlier struct {
	Failing    int `json:"failing"`
	Unresolved int `json:"unresolved"`
}

// Target names where usage is reported: Azure Marketplace, or the
// Metering API at another endpoint (an emulator).
func (u Usage) Target() string {
	if u.Endpoint == "" || u.Endpoint == metering.DefaultEndpoint {
		return "Azure Marketplace"
	}
	return "the Metering API at " + u.Endpoint
}

// Service is what GET usageEvents answered for our resource, plan and
// dimension. The service counts per UTC day, not per hour.
type Service struct {
	// Unavailable says why the service was not asked (reporting paused).
	Unavailable   string                 `json:"unavailable,omitempty"`
	Error         string                 `json:"error,omitempty"`
	CorrelationID string                 `json:"correlationId,omitempty"`
	FetchedAt     time.Time              `json:"fetchedAt,omitzero"`
	Note          string                 `json:"note,omitempty"` // a caveat about the source, e.g. an emulator's memory
	Records       []metering.UsageRecord `json:"records"`
}

// Answered reports whether the service's totals are known.
func (s Service) Answered() bool {
	return s.Unavailable == "" && s.Error == "" && !s.FetchedAt.IsZero()
}

// Charges estimate the month's bill from the configured rate card.
type Charges struct {
	Month time.Time `json:"month"` // first day of the month, UTC
	// Billed is what the service accepted this month; Source says whose
	// totals these are: "service", or "ledger" when the service could not
	// be asked (then only the hours the ledger still holds count).
	Billed   float64     `json:"billed"`
	Unbilled float64     `json:"unbilled"` // counted this month, not reported yet
	Quantity float64     `json:"quantity"` // Billed + Unbilled
	Included float64     `json:"included"`
	Billable float64     `json:"billable"`
	Price    float64     `json:"price"`
	Tiers    []PriceTier `json:"tiers,omitempty"`
	Amount   float64     `json:"amount"`
	Source   string      `json:"source"`
}

// PriceTier is a band of the rate card: units above From cost Price.
type PriceTier struct {
	From  float64 `json:"from"`
	Price float64 `json:"price"`
}

// UsageReport is the body of GET /api/usage and what /usage renders: the
// source's Usage, the window asked for, its totals and the reconciliation.
type UsageReport struct {
	Usage
	// Hours are the ledger's hours of the window, newest first, labelled.
	Hours []HourRow `json:"hours"`
	// Attention is the page's top line: what is wrong now, and what to do.
	Attention      Attention  `json:"attention"`
	GeneratedAt    time.Time  `json:"generatedAt"`
	Window         string     `json:"window"` // 24h, 48h or 7d
	Since          time.Time  `json:"since"`  // first hour of the window
	Totals         Totals     `json:"totals"`
	Reconciliation []ReconDay `json:"reconciliation"` // oldest day first
}

// Totals add up the window's hours.
type Totals struct {
	Counted    float64 `json:"counted"`
	Billed     float64 `json:"billed"`  // reported: what the service accepted
	Due        float64 `json:"due"`     // counted, not yet billed nor carried
	Carried    float64 `json:"carried"` // moved to a later hour
	Mismatches int     `json:"mismatches"`
	Failing    int     `json:"failing"`    // hours whose last send failed
	Unresolved int     `json:"unresolved"` // hours that may be billed and cannot be resent
	// MaybeBilled counts unsettled hours a try of which may have reached
	// the service.
	MaybeBilled int `json:"maybeBilled"`
	// Waiting is the usage of closed hours not reported yet.
	Waiting float64 `json:"waiting"`
}

// Reconciliation statuses of a day.
const (
	ReconMatch      = "match"
	ReconDiffers    = "differs"
	ReconProcessing = "processing" // received, not yet processed by the service
	ReconUnchecked  = "unchecked"  // one side is unknown
	ReconUnreported = "unreported" // usage of the day is not reported yet
	ReconUnresolved = "unresolved" // an hour of the day may be billed unseen
	ReconNoUsage    = "no-usage"   // nothing counted, nothing at the service
)

// ReconDay sets one UTC day of our ledger beside the service's record of it.
type ReconDay struct {
	Day       time.Time `json:"day"`
	Hours     int       `json:"hours"`     // ledger hours of the day with usage
	Counted   float64   `json:"counted"`   // votes counted in the day
	Billed    float64   `json:"billed"`    // what the ledger says the service accepted
	Unsettled float64   `json:"unsettled"` // due in hours not settled yet
	InFlight  int       `json:"inFlight"`  // hours sent with no answer yet: the service may hold them
	// Unresolved counts the day's unresolved hours: the service may hold them.
	Unresolved int `json:"unresolved"`
	// LedgerComplete: the ledger still holds every hour of the day.
	LedgerComplete bool `json:"ledgerComplete"`
	// The service's row(s) of the day; ServiceRows 0 means none.
	ServiceRows int     `json:"serviceRows"`
	Submitted   float64 `json:"submitted"`
	Processed   float64 `json:"processed"`
	ReconStatus string  `json:"reconStatus,omitempty"`
	Difference  float64 `json:"difference"` // Submitted - Billed
	Status      string  `json:"status"`
	Note        string  `json:"note,omitempty"`
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
	return buildReport(u, win, since, now), win, true
}

// buildReport adds to what the source knows what the page derives from it.
func buildReport(u Usage, win usageWindow, since, now time.Time) UsageReport {
	if u.Hours == nil {
		u.Hours = []metering.Record{}
	}
	if u.Service.Records == nil {
		u.Service.Records = []metering.UsageRecord{}
	}
	rep := UsageReport{Usage: u, Hours: []HourRow{}, GeneratedAt: now, Window: win.Key, Since: since}
	for _, h := range u.Hours {
		if h.Hour.Before(since) {
			continue
		}
		row := hourRow(h, now)
		rep.Hours = append(rep.Hours, row)
		rep.Totals.Counted += h.Counted
		rep.Totals.Billed += h.Reported
		rep.Totals.Due += max(0, h.Due())
		rep.Totals.Carried += h.CarriedOut
		switch row.Status {
		case statusMismatch:
			rep.Totals.Mismatches++
		case statusFailed:
			rep.Totals.Failing++
		case statusUnresolved:
			rep.Totals.Unresolved++
		case statusMaybeBilled:
			rep.Totals.MaybeBilled++
		}
		if row.Status != statusOpen && !h.State.Settled() {
			rep.Totals.Waiting += max(0, h.Due())
		}
	}
	rep.Reconciliation = reconcile(u.Hours, u.Service, since, now)
	rep.Attention = attention(rep)
	return rep
}

// reconcile sums the ledger's hours per UTC day, the service's unit, and
// compares them with the service's rows. The comparison is of what was
// billed: the ledger's Reported is the quantity the service accepted.
func reconcile(hours []metering.Record, svc Service, since, now time.Time) []ReconDay {
	first, last := metering.DayOf(since), metering.DayOf(now)
	var days []ReconDay
	index := map[time.Time]int{}
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		index[d] = len(days)
		days = append(days, ReconDay{Day: d, LedgerComplete: !d.Before(now.Add(-ledgerRetention))})
	}
	for _, h := range hours {
		i, ok := index[metering.DayOf(h.Hour)]
		if !ok {
			continue
		}
		d := &days[i]
		if h.Counted > 0 {
			d.Hours++
		}
		d.Counted += h.Counted
		d.Billed += h.Reported
		if !h.State.Settled() {
			d.Unsettled += max(0, h.Due())
		}
		switch h.State {
		case metering.StateInflight:
			d.InFlight++
		case metering.StateUnresolved:
			d.Unresolved++
		}
	}
	answered := svc.Answered()
	for _, rec := range svc.Records {
		i, ok := index[metering.DayOf(rec.UsageDate.Time)]
		if !ok {
			continue
		}
		d := &days[i]
		d.ServiceRows++
		d.Submitted += rec.SubmittedQuantity
		d.Processed += rec.ProcessedQuantity
		if st := string(rec.ReconStatus); st != "" && !strings.Contains(d.ReconStatus, st) {
			d.ReconStatus = strings.TrimPrefix(d.ReconStatus+", "+st, ", ")
		}
	}
	for i := range days {
		d := &days[i]
		d.Difference = d.Submitted - d.Billed
		d.Status, d.Note = dayStatus(*d, answered)
	}
	return days
}

// same compares quantities that went through decimal text and sums.
func same(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// usagePageData is what templates/usage.html renders.
type usagePageData struct {
	Page
	UsageReport
	Windows []windowLink
	Chart   chart
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
		Page: s.opts.Page, UsageReport: rep, Windows: links,
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
	Status   string
	X, Y, H  float64
	W        float64
}

type hourLabel struct {
	Text  string
	Minor bool // left out where the chart is narrow
}

type legendItem struct {
	Status string
	Hours  int // hours of the window with the status
}

const colWidth = 10

func buildChart(hours []HourRow, since time.Time, win usageWindow) chart {
	c := chart{Width: win.Hours * colWidth}
	byHour := make(map[time.Time]HourRow, len(hours))
	var top float64
	for _, h := range hours {
		byHour[h.Hour] = h
		top = max(top, h.Counted)
	}
	scale := niceCeil(top)
	counts := map[string]int{}
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
