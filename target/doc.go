// Package target is loadlens's built-in demo target: a real HTTP server on
// loopback whose latency, errors and faults are set by a [Config] and can
// change over time, so that load tests, the anomaly detector and the
// telemetry scraper have something honest to measure.
//
// It is a leaf: it imports no loadlens package. The CLI (`loadlens target`,
// `loadlens demo`), the engine's end-to-end tests and the anomaly
// evaluation use it.
//
// Its routes are [Routes] (`loadlens target --help` lists them): five load
// routes (/, /api/products, /api/products/{id}, /api/login,
// /api/checkout), /status, /delay, /bytes, /healthz and /metrics.
// Other paths and methods answer 404. Latency (× the route's weight,
// log-normally spread by Spread), Jitter, CPUWork, ErrorRate and the
// faults apply to load routes only. A load request waits out a stall, then
// its latency (stepped or drifting), then queues for a saturate slot and
// holds it, burns its CPU work, retains memory (leak), and is reset,
// answered with an injected 500/503, with an HTML page where JSON was
// promised (exception), or with its page. A request whose context ends
// while it waits frees its handler at once and is recorded as 499.
//
// Faults ([Fault], Config.Faults, the CLI's repeatable --fault
// KIND,key=value…) each have a kind — step, drift, burst, stall, leak,
// saturate, exception, reset, refuse —, an endpoint (one request path, or
// every load route), an onset At and a length For from the moment New
// returns, and their size. While Serve runs, the events log (Config.Events,
// [Server.Events]) records each fault's true start and end. Every choice is
// deterministic given Seed and the requests' arrival order.
//
// Profiles are shorthand for one fault, active from FaultAfter for
// FaultFor (0: until Close):
//
//   - Degrade: latency × DegradeFactor (3) + DegradeAdd (20 ms) — a step.
//   - Leak: LeakPerRequest (1 KiB) retained per request up to LeakMax
//     (256 MiB), released by Close — heap and RSS grow steadily.
//   - Saturate: Slots (8) concurrent requests, each holding its slot for
//     Hold (10 ms) + CPUWork — throughput plateaus near Slots/(Hold+CPUWork).
//   - ErrorBurst ("errors"): the error rate jumps to BurstErrorRate (12 %)
//     for FaultFor (10 s), then recovers.
//
// /metrics exposes the Go and process collectors (go_goroutines,
// go_memstats_heap_inuse_bytes, process_resident_memory_bytes,
// process_cpu_seconds_total) and the target's own metrics, named by the
// Metric… constants. [Server.Stats] gives the same counters to Go callers.
//
// Usage:
//
//	srv, err := target.New(target.Config{Latency: 5 * time.Millisecond, Profile: target.Degrade, FaultAfter: 20 * time.Second})
//	if err != nil { … }                            // every invalid field at once
//	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil { … }
//	defer srv.Close()
//	resp, err := http.Get(srv.URL() + "/api/products")
//
// The CLI registers the Config's flags with [Config.RegisterFlags], calls
// [Server.Listen] and then [Server.Serve], which shuts down gracefully when
// its context ends.
package target
