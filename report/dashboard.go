package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// Dashboard is a live view of a run, as k6's web dashboard: a
// [loadtest.Output] that is also an [http.Handler]. Its page (at "/")
// draws the report's charts and redraws them each second from a stream
// of Server-Sent Events ("/events"); once [Dashboard.Finish] is given the
// analysed run, the page links to the final HTML report ("/report"), the
// same file --report writes.
//
// It serves whoever can reach it and has no authentication: serve it on
// loopback only. Pass it to [loadtest.Run] with the run's other outputs.
type Dashboard struct {
	name string

	mu         sync.Mutex
	start      time.Time
	tl         loadtest.Timeline
	thresholds []metrics.Verdict // as declared; drawn before they are judged
	version    int               // counts updates: streams send when it moves
	changed    chan struct{}     // closed and replaced on each update
	report     []byte            // the final report, once given
	stopped    bool
}

// NewDashboard returns a dashboard for the run named name (the page's
// title).
func NewDashboard(name string) *Dashboard {
	if name == "" {
		name = "loadlens"
	}
	return &Dashboard{name: name, changed: make(chan struct{})}
}

var _ interface {
	loadtest.Output
	loadtest.TimelineReceiver
	http.Handler
} = (*Dashboard)(nil)

// Start implements [loadtest.Output].
func (d *Dashboard) Start(info loadtest.RunInfo) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.start = info.Start
	keys := make([]string, 0, len(info.Thresholds))
	for k := range info.Thresholds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, th := range info.Thresholds[k] {
			d.thresholds = append(d.thresholds, metrics.Verdict{Metric: k, Threshold: th, Status: metrics.NoData})
		}
	}
	d.updateLocked()
	return nil
}

// AddSamples implements [loadtest.Output]: the dashboard draws the
// engine's timeline, not samples.
func (d *Dashboard) AddSamples([]metrics.Sample) {}

// TimelineSeconds implements [loadtest.TimelineReceiver]: it appends the
// seconds to the charts.
func (d *Dashboard) TimelineSeconds(part loadtest.Timeline) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tl.Start.IsZero() {
		d.tl = loadtest.Timeline{Start: part.Start, Step: part.Step}
	}
	n := d.tl.Len()
	for _, s := range part.Series {
		mine := d.tl.Find(s.Name, s.Tags)
		if mine == nil {
			d.tl.Series = append(d.tl.Series, loadtest.Series{Name: s.Name, Tags: s.Tags, Unit: s.Unit})
			mine = &d.tl.Series[len(d.tl.Series)-1]
		}
		for len(mine.Values) < n { // a series that began in this part
			mine.Values = append(mine.Values, math.NaN())
		}
		mine.Values = append(mine.Values, s.Values...)
	}
	d.updateLocked()
}

// Stop implements [loadtest.Output]: the charts become the result's, with
// the thresholds' verdicts.
func (d *Dashboard) Stop(res loadtest.Result) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if res.Status != "" { // the run started
		d.tl, d.thresholds = res.Timeline, res.Thresholds
	}
	d.updateLocked()
	return nil
}

// Finish renders the final report of the analysed run; the page offers it
// and "/report" serves it from then on.
func (d *Dashboard) Finish(in Input) error {
	var b bytes.Buffer
	if err := WriteHTML(&b, in); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.report = b.Bytes()
	d.updateLocked()
	return nil
}

// updateLocked wakes the streams.
func (d *Dashboard) updateLocked() {
	d.version++
	close(d.changed)
	d.changed = make(chan struct{})
}

// liveEvent is what a stream sends: the charts, the state of the run.
type liveEvent struct {
	Charts chartData `json:"charts"`
	// State is "running", "stopped" (the run is over, the report is being
	// made) or "done" (the report is at "report").
	State string `json:"state"`
}

// event returns the current event, its state and version, and the
// channel closed at the next update.
func (d *Dashboard) event() (b []byte, state string, version int, changed <-chan struct{}, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := loadtest.Result{Start: d.start, Timeline: d.tl, Thresholds: d.thresholds}
	if res.Start.IsZero() {
		res.Start = d.tl.Start
	}
	ev := liveEvent{Charts: newChartData(res, nil, maxChartPoints), State: "running"}
	switch {
	case d.report != nil:
		ev.State = "done"
	case d.stopped:
		ev.State = "stopped"
	}
	b, err = json.Marshal(ev)
	return b, ev.State, d.version, d.changed, err
}

// ServeHTTP implements [http.Handler]: "/" is the page, "/events" the
// stream, "/report" the final report.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/":
		d.servePage(w)
	case "/events":
		d.serveEvents(r.Context(), w)
	case "/report":
		d.mu.Lock()
		rep := d.report
		d.mu.Unlock()
		if rep == nil {
			http.Error(w, "the report is written when the run is over", http.StatusServiceUnavailable)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="loadlens-report.html"`)
		_, _ = w.Write(rep)
	default:
		http.NotFound(w, r)
	}
}

var livePageTemplate = template.Must(template.New("live.html.tmpl").ParseFS(files, "live.html.tmpl"))

func (d *Dashboard) servePage(w http.ResponseWriter) {
	var b bytes.Buffer
	err := livePageTemplate.Execute(&b, struct {
		Title      string
		Script     template.JS
		Live       template.JS
		UPlot      template.JS
		Style      template.CSS
		UPlotStyle template.CSS
	}{d.name, template.JS(asset("report.js")), template.JS(asset("live.js")), template.JS(asset("uPlot.iife.min.js")),
		template.CSS(asset("report.css")), template.CSS(asset("uPlot.min.css"))})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// serveEvents streams an event now and at each update, until the run's
// report is offered or the client goes away.
func (d *Dashboard) serveEvents(ctx context.Context, w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	sent := -1
	for {
		b, state, version, changed, err := d.event()
		if err != nil {
			fmt.Fprintf(w, "event: error\ndata: %q\n\n", err.Error())
			return
		}
		if version != sent {
			sent = version
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return
			}
			if state == "done" {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
