// Package telemetry watches the system under test while a load test runs:
// its resident memory, CPU, Go heap and goroutines, read from a Prometheus
// exposition endpoint (text or OpenMetrics, parsed with
// github.com/prometheus/common/expfmt) or, for a process on the same Linux
// machine, from /proc. Load numbers alone cannot show a leak; these can.
//
// A [Config] names the sources. [Config.Scraper] turns it into a
// [Scraper], whose Run samples every source on its own goroutine, once per
// interval, each scrape bounded by a timeout shorter than the interval, so
// that at most one scrape per source is in flight and a slow endpoint
// delays nobody but itself. Every scrape is handed to a callback as a
// [Scrape]: gauges as read, counters as per-second rates (counter resets
// handled), histograms and summaries as the mean of the interval's
// observations. A failed scrape is a Scrape with Err set — counted and
// reported in the [Summary], never fatal.
//
// The engine (package loadtest) wires a Scraper into a run when a plan has
// a telemetry config and records its points as per-second target.* series.
// This package does not import loadtest.
//
// It may import: nothing of this module but internal packages.
//
//	cfg := telemetry.Config{Prometheus: "http://127.0.0.1:9100/metrics", Interval: time.Second}
//	s, err := cfg.Scraper(logger)
//	if err != nil { ... }
//	summaries := s.Run(ctx, func(sc telemetry.Scrape) { ... }) // until ctx ends
package telemetry
