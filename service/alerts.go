package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// Alert events; see store.EventCompleted….
const (
	EventCompleted        = store.EventCompleted        // the test ran to its end
	EventFailed           = store.EventFailed           // the test could not run or errored
	EventThresholdsFailed = store.EventThresholdsFailed // at least one threshold failed
	EventHighFindings     = store.EventHighFindings     // the analysis found high or critical problems
	EventBudgetBreached   = store.EventBudgetBreached   // the run breached its test's budgets (once per breach)
)

// Webhook formats.
const (
	FormatJSON  = store.FormatJSON  // the Alert as JSON
	FormatSlack = store.FormatSlack // a Slack incoming-webhook message: {"text": …}
)

// Webhook is where alerts go: the agent's own in Config.Webhooks, and each
// tenant's own, which the operator keeps in the store
// ([store.Store.AddWebhook]). It is store.Webhook, so that there is one
// definition of both.
type Webhook = store.Webhook

// withDefaults validates w and fills in its defaults; field names its JSON
// path in errors ("webhooks[0]").
func withDefaults(w Webhook, field string) (Webhook, error) {
	if err := w.Validate(); err != nil {
		var errs []error
		for _, e := range splitJoined(err) {
			errs = append(errs, fmt.Errorf("%s.%w", field, e))
		}
		return w, fmt.Errorf("service: %w", errors.Join(errs...))
	}
	if w.Format == "" {
		w.Format = FormatJSON
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
	return w, nil
}

// splitJoined returns the errors an errors.Join joined, or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
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
	FailedThresholds []string `json:"failed_thresholds,omitempty"`
	// BudgetBreaches are the budgets a newly breaching run breached.
	BudgetBreaches []string  `json:"budget_breaches,omitempty"`
	Time           time.Time `json:"time"`
}

// AlertFinding is a finding as an alert carries it.
type AlertFinding struct {
	ID       string           `json:"id"`
	Kind     anomaly.Kind     `json:"kind"`
	Severity anomaly.Severity `json:"severity"`
	Message  string           `json:"message"`
}

// alert sends a run's alert to every webhook that wants one of its events:
// the agent's own (Config.Webhooks) for the run's tenant, and that tenant's
// own in the store, never another tenant's. breaches are the budgets the
// run newly breached. It waits for the deliveries.
func (s *Server) alert(logger *slog.Logger, r *liveRun, state store.State, msg string, res *loadtest.Result, rep *anomaly.Report,
	breaches []string) {
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
	if len(breaches) > 0 {
		a.Events, a.BudgetBreaches = append(a.Events, EventBudgetBreached), breaches
	}
	if len(a.Events) == 0 {
		return
	}
	// A hook is named in logs by its place, never by its URL (a secret).
	type target struct {
		hook Webhook
		key  string // "webhook" (the agent's) or "tenant_webhook"
		i    int
	}
	var targets []target
	for i, hook := range s.cfg.Webhooks {
		if len(hook.Tenants) == 0 || slices.Contains(hook.Tenants, r.tenant) {
			targets = append(targets, target{hook, "webhook", i})
		}
	}
	// The tenant's own are read now, so that the operator's changes apply
	// to the next run's end without a restart.
	own, err := s.st.Webhooks(s.bgCtx, r.tenant)
	if err != nil {
		logger.Error("reading the tenant's webhooks", "error", err)
	}
	for i, hook := range own {
		hook.Tenants = nil // a tenant's webhook is for its own runs only
		hook, err := withDefaults(hook, fmt.Sprintf("tenant_webhooks[%d]", i))
		if err != nil {
			logger.Error("skipping an invalid tenant webhook", "tenant_webhook", i, "error", err)
			continue
		}
		targets = append(targets, target{hook, "tenant_webhook", i})
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		if len(t.hook.Events) > 0 && !slices.ContainsFunc(a.Events, func(e string) bool { return slices.Contains(t.hook.Events, e) }) {
			continue
		}
		wg.Go(func() {
			err := s.deliver(s.bgCtx, t.hook, a)
			result := "delivered"
			if err != nil {
				result = "failed"
				logger.Error("alert not delivered", t.key, t.i, "events", a.Events, "error", err)
			} else {
				logger.Info("alert delivered", t.key, t.i, "events", a.Events)
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
	if a.State != store.Completed || len(a.FailedThresholds) > 0 || len(a.Findings) > 0 || len(a.BudgetBreaches) > 0 {
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
	for _, br := range a.BudgetBreaches {
		fmt.Fprintf(&b, "\n• budget breached: `%s`", br)
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
