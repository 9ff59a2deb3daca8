//go:build race

package anomalye2e_test

// raceDetector is true when the tests run under the race detector.
const raceDetector = true
