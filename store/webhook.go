package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Alert events: why a run's alert is sent.
const (
	EventCompleted        = "completed"         // the test ran to its end
	EventFailed           = "failed"            // the test could not run or errored
	EventThresholdsFailed = "thresholds_failed" // at least one threshold failed
	EventHighFindings     = "high_findings"     // the analysis found high or critical problems
	EventBudgetBreached   = "budget_breached"   // the run breached its test's budgets, which the previous run kept
)

// Webhook formats.
const (
	FormatJSON  = "json"  // the alert as JSON
	FormatSlack = "slack" // a Slack incoming-webhook message: {"text": …}
)

// events lists every alert event, in the order alerts carry them.
var events = []string{EventCompleted, EventFailed, EventThresholdsFailed, EventHighFindings, EventBudgetBreached}

// Webhook is where a run's alerts go. It is the one definition of a
// webhook: the agent's own (the service's Config.Webhooks) and a tenant's
// (AddWebhook) alike. URL is required; it is a secret (Slack's carry their
// token) and is never logged.
type Webhook struct {
	URL string `json:"url"`
	// Format is FormatJSON (default) or FormatSlack.
	Format string `json:"format,omitempty"`
	// Events selects the alerts sent; empty means every event.
	Events []string `json:"events,omitempty"`
	// Tenants selects whose runs alert; empty means every tenant. Only the
	// agent's own webhooks have it: a tenant's get that tenant's alerts.
	Tenants []string `json:"tenants,omitempty"`
	// Headers are added to each request (a receiver's own token). They are
	// never logged, and never stored: only the agent's own webhooks have
	// them.
	Headers map[string]string `json:"-"`
	// Retries is how many times a failed delivery (network error, 429 or
	// 5xx) is retried; default 3, negative for none.
	Retries int `json:"retries,omitempty"`
	// Backoff is the wait before the first retry, doubled after each, at
	// most 30s; default 1s.
	Backoff time.Duration `json:"backoff,omitempty"`
}

// Validate reports every problem of w at once, each prefixed by its field:
// a URL that is not http:// or https:// with a host, an unknown format or
// event. It does not fill in defaults.
func (w Webhook) Validate() error {
	var errs []error
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: want an http:// or https:// URL, got %q", w.URL))
	}
	switch w.Format {
	case "", FormatJSON, FormatSlack:
	default:
		errs = append(errs, fmt.Errorf("format: want json or slack, got %q", w.Format))
	}
	for i, e := range w.Events {
		if !slices.Contains(events, e) {
			errs = append(errs, fmt.Errorf("events[%d]: unknown %q; want %s", i, e, strings.Join(events, ", ")))
		}
	}
	return errors.Join(errs...)
}

// validateTenantWebhook is Validate and the fields a tenant's webhook may
// not have.
func validateTenantWebhook(w Webhook) error {
	errs := []error{w.Validate()}
	if len(w.Tenants) > 0 {
		errs = append(errs, errors.New("tenants: must be empty: a tenant's webhook gets that tenant's alerts only"))
	}
	if len(w.Headers) > 0 {
		errs = append(errs, errors.New("headers: must be empty: a tenant's webhook has no headers"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// AddWebhook gives tenant another webhook, with Format "" stored as
// FormatJSON. It fails when w is invalid (see [Webhook.Validate]; Tenants
// and Headers must be empty), with ErrNotFound when the tenant does not
// exist, and with ErrExists when the tenant has a webhook with that URL.
// Tenants never manage their webhooks themselves: the operator does, so
// that a tenant cannot make the agent post to an address of its choosing.
func (s *Store) AddWebhook(ctx context.Context, tenant string, w Webhook) error {
	if err := validateTenantWebhook(w); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if w.Format == "" {
		w.Format = FormatJSON
	}
	evs, err := json.Marshal(w.Events)
	if err != nil {
		return fmt.Errorf("store: webhook: %w", err)
	}
	if w.Events == nil {
		evs = []byte("[]")
	}
	err = s.tx(ctx, func(tx *txn) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM webhooks WHERE tenant = ? AND url = ?", tenant, w.URL).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("webhook %q: %w", w.URL, ErrExists)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (tenant, url, format, events, retries, backoff_ns, created_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, tenant, w.URL, w.Format, string(evs), w.Retries, int64(w.Backoff), time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: add webhook: %w", err)
	}
	return nil
}

// Webhooks returns a tenant's webhooks in the order they were added, or
// ErrNotFound when the tenant does not exist.
func (s *Store) Webhooks(ctx context.Context, tenant string) ([]Webhook, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE id = ? AND removed_ns = 0", tenant).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("store: tenant %q: %w", tenant, ErrNotFound)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT url, format, events, retries, backoff_ns FROM webhooks WHERE tenant = ? ORDER BY seq", tenant)
	if err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	var out []Webhook
	for rows.Next() {
		var (
			w       Webhook
			evs     string
			backoff int64
		)
		if err := rows.Scan(&w.URL, &w.Format, &evs, &w.Retries, &backoff); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("store: webhooks: %w", err)
		}
		if err := json.Unmarshal([]byte(evs), &w.Events); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("store: webhooks: events: %w", err)
		}
		if len(w.Events) == 0 {
			w.Events = nil
		}
		w.Backoff = time.Duration(backoff)
		out = append(out, w)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	return out, nil
}

// RemoveWebhook removes the tenant's webhook with the given URL. It fails
// with ErrNotFound when the tenant has no such webhook.
func (s *Store) RemoveWebhook(ctx context.Context, tenant, webhookURL string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM webhooks WHERE tenant = ? AND url = ?", tenant, webhookURL)
	if err != nil {
		return fmt.Errorf("store: remove webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: tenant %q: webhook %q: %w", tenant, webhookURL, ErrNotFound)
	}
	return nil
}
