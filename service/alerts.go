package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/store"
)

// Alert events.
const (
	EventCompleted        = "completed"         // the test ran to its end
	EventFailed           = "failed"            // the test could not run or errored
	EventThresholdsFailed = "thresholds_failed" // at least one threshold failed
	EventHighFindings     = "high_findings"     // the analysis found high or critical problems
)

// Webhook formats.
const (
	FormatJSON  = "json"  // the Alert as JSON
	FormatSlack = "slack" // a Slack incoming-webhook message: {"text": …}
)

// Webhook is where alerts go. URL is required.
type Webhook struct {
	URL string `json:"url"`
	// Format is FormatJSON (default) or FormatSlack.
	Format string `json:"format,omitempty"`
	// Events selects the alerts sent; empty means every event.
	Events []string `json:"events,omitempty"`
	// Tenants selects whose runs alert; empty means every tenant.
	Tenants []string `json:"tenants,omitempty"`
	// Headers are added to each request (a receiver's own token). They are
	// never logged.
	Headers map[string]string `json:"-"`
	// Retries is how many times a failed delivery (network error, 429 or
	// 5xx) is retried; default 3, negative for none.
	Retries int `json:"retries,omitempty"`
	// Backoff is the wait before the first retry, doubled after each, at
	// most 30s; default 1s.
	Backoff time.Duration `json:"backoff,omitempty"`
}

func (w Webhook) withDefaults(i int) (Webhook, error) {
	var errs []string
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Sprintf("webhooks[%d].url: want an http:// or https:// URL, got %q", i, w.URL))
	}
	switch w.Format {
	case "":
		w.Format = FormatJSON
	case FormatJSON, FormatSlack:
	default:
		errs = append(errs, fmt.Sprintf("webhooks[%d].format: want json or slack, got %q", i, w.Format))
	}
	for _, e := range w.Events {
		if !slices.Contains([]string{EventCompleted, EventFailed, EventThresholdsFailed, EventHighFindings}, e) {
			errs = append(errs, fmt.Sprintf("webhooks[%d].events: unknown %q; want completed, failed, thresholds_failed or high_findings", i, e))
		}
	}
	switch {
	case w.Retries == 0:
		w.Retries = 3
	case w.Retries < 0:
		w.Retries = 0
	}
	if w.Backoff <= 0 {
		w.Backoff = time.Second
	}
	if len(errs) > 0 {
		return w, fmt.Errorf("service: %s", strings.Join(errs, "; "))
	}
	return w, nil
}

// Alert is the JSON body of a webhook in FormatJSON.
type Alert struct {
	// Events are why the alert was sent (EventCompleted…).
	Events       []string        `json:"events"`
	Tenant       string          `json:"tenant"`
	RunID        string          `json:"run_id"`
	Name         string          `json:"name"`
	TestType     string          `json:"test_type"`
	State        store.State     `json:"state"`
	ResultStatus loadtest.Status `json:"result_status,omitempty"`
	Error        string          `json:"error,omitempty"`
	// Summary and Severity are the anomaly report's.
	Summary  string           `json:"summary,omitempty"`
	Severity anomaly.Severity `json:"severity"`
	// Findings are the high and critical ones.
	Findings []AlertFinding `json:"findings,omitempty"`
	// FailedThresholds are "metric: expression" of each failed threshold.
	FailedThresholds []string  `json:"failed_thresholds,omitempty"`
	Time             time.Time `json:"time"`
}

// AlertFinding is a finding as an alert carries it.
type AlertFinding struct {
	ID       string           `json:"id"`
	Kind     anomaly.Kind     `json:"kind"`
	Severity anomaly.Severity `json:"severity"`
	Message  string           `json:"message"`
}

// alert sends a run's alert to every webhook that wants one of its events,
// and waits for the deliveries.
func (s *Server) alert(logger *slog.Logger, r *liveRun, state store.State, msg string, res *loadtest.Result, rep *anomaly.Report) {
	if len(s.cfg.Webhooks) == 0 {
		return
	}
	a := Alert{Tenant: r.tenant, RunID: r.id, Name: r.name, TestType: r.testType, State: state, Error: msg, Time: time.Now().UTC()}
	switch state {
	case store.Completed:
		a.Events = append(a.Events, EventCompleted)
	case store.Failed:
		a.Events = append(a.Events, EventFailed)
	}
	if res != nil {
		a.ResultStatus = res.Status
		for _, v := range res.Thresholds {
			if v.Status == metrics.Failed {
				a.FailedThresholds = append(a.FailedThresholds, v.Metric+": "+v.Threshold.Source)
			}
		}
		if len(a.FailedThresholds) > 0 {
			a.Events = append(a.Events, EventThresholdsFailed)
		}
	}
	if rep != nil {
		a.Summary, a.Severity = rep.Summary, rep.Severity
		for _, f := range highFindings(rep) {
			a.Findings = append(a.Findings, AlertFinding{ID: f.ID, Kind: f.Kind, Severity: f.Severity, Message: f.Message})
		}
		if len(a.Findings) > 0 {
			a.Events = append(a.Events, EventHighFindings)
		}
	}
	if len(a.Events) == 0 {
		return
	}
	var wg sync.WaitGroup
	for i, hook := range s.cfg.Webhooks {
		if len(hook.Tenants) > 0 && !slices.Contains(hook.Tenants, r.tenant) {
			continue
		}
		if len(hook.Events) > 0 && !slices.ContainsFunc(a.Events, func(e string) bool { return slices.Contains(hook.Events, e) }) {
			continue
		}
		wg.Go(func() {
			err := s.deliver(s.bgCtx, hook, a)
			result := "delivered"
			if err != nil {
				result = "failed"
				logger.Error("alert not delivered", "webhook", i, "events", a.Events, "error", err)
			} else {
				logger.Info("alert delivered", "webhook", i, "events", a.Events)
			}
			s.metrics.alerts.WithLabelValues(result).Inc()
		})
	}
	wg.Wait()
}

// slackText is the Slack message of an alert.
func slackText(a Alert) string {
	var b strings.Builder
	icon := ":white_check_mark:"
	if a.State != store.Completed || len(a.FailedThresholds) > 0 || len(a.Findings) > 0 {
		icon = ":rotating_light:"
	}
	fmt.Fprintf(&b, "%s loadlens %s test *%s* (%s) %s", icon, a.TestType, a.Name, a.RunID, a.State)
	if a.ResultStatus != "" {
		fmt.Fprintf(&b, ", %s", a.ResultStatus)
	}
	if a.Error != "" {
		fmt.Fprintf(&b, ": %s", a.Error)
	}
	for _, t := range a.FailedThresholds {
		fmt.Fprintf(&b, "\n• threshold failed: `%s`", t)
	}
	for _, f := range a.Findings {
		fmt.Fprintf(&b, "\n• %s: %s", f.Severity, f.Message)
	}
	if a.Summary != "" {
		fmt.Fprintf(&b, "\n%s", a.Summary)
	}
	return b.String()
}

// deliver posts the alert, retrying network errors, 429 and 5xx with a
// doubling backoff.
func (s *Server) deliver(ctx context.Context, hook Webhook, a Alert) error {
	var body []byte
	if hook.Format == FormatSlack {
		body, _ = json.Marshal(map[string]string{"text": slackText(a)})
	} else {
		body, _ = json.Marshal(a)
	}
	backoff := hook.Backoff
	var last error
	for attempt := 0; attempt <= hook.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (after %d attempts; last: %v)", ctx.Err(), attempt, last)
			case <-t.C:
			}
			backoff = min(2*backoff, 30*time.Second)
		}
		retry, err := s.post(ctx, hook, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", hook.Retries+1, last)
}

func (s *Server) post(ctx context.Context, hook Webhook, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "loadlens-agent")
	for k, v := range hook.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("post: %w", redactURLError(err))
	}
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return false, fmt.Errorf("receiver answered %s", resp.Status)
}

// redactURLError drops the URL from a *url.Error: webhook URLs (Slack's)
// are secrets.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
