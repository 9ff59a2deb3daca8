// Package telemetry is an end-to-end example of target telemetry.
//
// It runs a load test against the demo target (package target) in a process
// of its own, with the run reading the target's /metrics and /proc entry
// while it runs, and the anomaly analyzer finding the leak of its leak
// profile in the target.* series. Everything is in its tests; the package
// has no API.
//
// It may import: anything of this module (examples sit on top).
package telemetry
