package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/common/model"

	"github.com/loadlens/loadlens/internal/duration"
	"github.com/loadlens/loadlens/internal/redact"
)

// Bounds and defaults of a Config.
const (
	// DefaultInterval is Config.Interval's default.
	DefaultInterval = time.Second
	// MinInterval is the shortest interval a Config accepts.
	MinInterval = 100 * time.Millisecond
	// MaxDefaultTimeout caps the default timeout of long intervals.
	MaxDefaultTimeout = 10 * time.Second
	// MaxMetrics is how many extra metric names a Config may list.
	MaxMetrics = 50
)

// Config names the telemetry sources of a load test's target and how often
// to read them. Its JSON form is the "telemetry" object of a plan, a test
// file and the agent's API body:
//
//	{"prometheus": "http://127.0.0.1:9100/metrics", "pid": 4242,
//	 "interval": "1s", "timeout": "800ms", "metrics": ["http_requests_total"]}
//
// The zero value names no source and does not validate. A Config is plain
// data.
type Config struct {
	// Prometheus is the URL of the target's Prometheus exposition endpoint
	// (text format or OpenMetrics), e.g. "http://127.0.0.1:9100/metrics".
	Prometheus string
	// PID is the process id of a target on this machine, read from /proc
	// (Linux only; elsewhere every scrape fails as unsupported). 0 means
	// none.
	PID int
	// Interval is the time between two scrapes of a source; default
	// DefaultInterval, at least MinInterval.
	Interval time.Duration
	// Timeout bounds one scrape; it must be shorter than Interval. Default
	// 80 % of the interval, at most MaxDefaultTimeout.
	Timeout time.Duration
	// Metrics lists extra metric names to read from the Prometheus endpoint
	// besides the standard ones (StandardMetrics): gauges are kept as read,
	// counters become per-second rates, histograms and summaries the mean
	// observation of each interval, every one summed over its label sets.
	// "x_count" and "x_sum" name a histogram's or summary's counters.
	Metrics []string
	// CPUs is how many CPUs the target may use (its GOMAXPROCS or container
	// limit), which its telemetry does not say; 0 means unknown. Known, the
	// analysis reports a target whose CPU stays near it.
	CPUs float64
	// AllowIP, when set, must approve every address a Prometheus scrape
	// connects to, and redirects are then not followed; it is not
	// serialised. The agent sets it to a tenant's allowed hosts, as it
	// sets the run's loadtest.Options.AllowIP.
	AllowIP func(netip.Addr) bool
}

type configJSON struct {
	Prometheus string             `json:"prometheus,omitempty"`
	PID        int                `json:"pid,omitempty"`
	Interval   *duration.Duration `json:"interval,omitempty"`
	Timeout    *duration.Duration `json:"timeout,omitempty"`
	Metrics    []string           `json:"metrics,omitempty"`
	CPUs       float64            `json:"cpus,omitempty"`
}

// MarshalJSON writes the config with durations as strings ("1s").
func (c Config) MarshalJSON() ([]byte, error) {
	j := configJSON{Prometheus: c.Prometheus, PID: c.PID, Metrics: c.Metrics, CPUs: c.CPUs}
	if c.Interval != 0 {
		d := duration.Duration(c.Interval)
		j.Interval = &d
	}
	if c.Timeout != 0 {
		d := duration.Duration(c.Timeout)
		j.Timeout = &d
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes; durations may also be
// numbers of milliseconds, as in k6 options.
func (c *Config) UnmarshalJSON(b []byte) error {
	var j configJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = Config{Prometheus: j.Prometheus, PID: j.PID, Metrics: j.Metrics, CPUs: j.CPUs}
	if j.Interval != nil {
		c.Interval = time.Duration(*j.Interval)
	}
	if j.Timeout != nil {
		c.Timeout = time.Duration(*j.Timeout)
	}
	return nil
}

// interval returns the interval with its default.
func (c Config) interval() time.Duration {
	if c.Interval == 0 {
		return DefaultInterval
	}
	return c.Interval
}

// timeout returns the timeout with its default.
func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return defaultTimeout(c.interval())
	}
	return c.Timeout
}

func defaultTimeout(interval time.Duration) time.Duration {
	return min(interval*4/5, MaxDefaultTimeout)
}

// Validate reports every problem of the config at once, each prefixed by
// its JSON path ("telemetry.interval: …").
func (c Config) Validate() error {
	var errs []error
	if c.Prometheus == "" && c.PID == 0 {
		errs = append(errs, errors.New("telemetry: name a source: prometheus, pid or both"))
	}
	if c.Prometheus != "" {
		u, err := url.Parse(c.Prometheus)
		switch {
		case err != nil:
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL, which may hold a password
			}
			errs = append(errs, fmt.Errorf("telemetry.prometheus: not a valid URL: %v", err))
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			errs = append(errs, fmt.Errorf("telemetry.prometheus: want an http:// or https:// URL with a host, got %q", redact.URL(c.Prometheus)))
		}
	}
	if c.PID < 0 {
		errs = append(errs, fmt.Errorf("telemetry.pid: must be > 0, got %d", c.PID))
	}
	if c.Interval != 0 && c.Interval < MinInterval {
		errs = append(errs, fmt.Errorf("telemetry.interval: must be >= %s, got %s", MinInterval, c.Interval))
	}
	switch {
	case c.Timeout < 0:
		errs = append(errs, fmt.Errorf("telemetry.timeout: must be > 0, got %s", c.Timeout))
	case c.Timeout > 0 && c.Timeout >= c.interval():
		errs = append(errs, fmt.Errorf("telemetry.timeout: must be shorter than the interval (%s), got %s", c.interval(), c.Timeout))
	}
	if !(c.CPUs >= 0) {
		errs = append(errs, fmt.Errorf("telemetry.cpus: must be >= 0, got %v", c.CPUs))
	}
	if len(c.Metrics) > 0 && c.Prometheus == "" {
		errs = append(errs, errors.New("telemetry.metrics: extra metrics are read from a prometheus source; none is given"))
	}
	if len(c.Metrics) > MaxMetrics {
		errs = append(errs, fmt.Errorf("telemetry.metrics: at most %d names, got %d", MaxMetrics, len(c.Metrics)))
	}
	seen := map[string]bool{}
	for i, name := range c.Metrics {
		switch {
		case !model.UTF8Validation.IsValidMetricName(name):
			errs = append(errs, fmt.Errorf("telemetry.metrics[%d]: %q is not a metric name", i, name))
		case seen[name]:
			errs = append(errs, fmt.Errorf("telemetry.metrics[%d]: %q is listed twice", i, name))
		}
		seen[name] = true
	}
	return errors.Join(errs...)
}

// Redacted returns the config with the secrets of the Prometheus URL (its
// password, secret-looking query parameters) hidden.
func (c Config) Redacted() Config {
	c.Prometheus = redact.URL(c.Prometheus)
	return c
}

// Scraper returns a Scraper for the config's sources, or the config's
// problems. logger may be nil.
func (c Config) Scraper(logger *slog.Logger) (*Scraper, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Scraper{Interval: c.interval(), Timeout: c.timeout(), Metrics: c.Metrics, Logger: logger}
	if c.Prometheus != "" {
		s.Sources = append(s.Sources, &Prometheus{URL: c.Prometheus, AllowIP: c.AllowIP})
	}
	if c.PID != 0 {
		s.Sources = append(s.Sources, Process{PID: c.PID})
	}
	return s, nil
}
