//go:build !race

package service_test

const raceResidentFactor = 1
