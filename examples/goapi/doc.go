// Package goapi is the README's Go example, compiled and run: a load test
// of a local server from Go, with thresholds on the scenario's requests
// and the analysis of the result. Everything is in its tests (Example is
// the README's snippet, and a test keeps the two the same); the package has
// no API.
//
// It may import: anything of this module (examples sit on top).
package goapi
