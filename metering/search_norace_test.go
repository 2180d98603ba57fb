//go:build !race

package metering_test

// defaultSearchRuns is how many schedules a plain test run tries.
const defaultSearchRuns = 1000
