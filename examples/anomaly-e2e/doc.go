// Package anomalye2e proves the anomaly analyzer end to end.
//
// It runs real load tests of a few dozen seconds with the engine (package
// loadtest) against the demo target (package target) on loopback with one of
// its fault profiles, and checks the findings anomaly.Analyze draws from the
// Result — the throughput limit of a saturated target at the right VU count,
// a latency step and an error burst at the time of the fault, a leak in the
// target's own telemetry, and nothing of those kinds against a healthy
// target under the same load.
//
// Everything is in its tests; the package has no API. The tests are few
// and short: 25 s each, in parallel as far as -parallel lets them; the
// leak soaks, 40 s each, run one after the other, only without -short and
// not under the race detector (whose shadow memory is then what the
// target's resident memory measures).
//
// It may import anything of this module: examples sit on top.
package anomalye2e
