//go:build race

package metering_test

// defaultSearchRuns is how many schedules a plain test run tries. Under
// the race detector a schedule costs several times more; make test also
// runs the full count without it.
const defaultSearchRuns = 200
