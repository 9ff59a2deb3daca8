//go:build race

package service_test

// raceResidentFactor: the race detector's shadow memory multiplies a
// process's resident memory.
const raceResidentFactor = 8
