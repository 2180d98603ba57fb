// Package redistest forwards to the kit's
// [github.com/azure-vote/azure-vote/metering/redisledger/redistest], where
// the test helper that runs real redis-servers now lives.
//
// New code imports metering/redisledger/redistest: this package remains
// only until its last importer (metering/reporter_test.go) has moved, and
// holds no code of its own.
package redistest

import (
	"testing"

	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// Aliases of the kit's helper; see there.
type (
	Server   = redistest.Server
	Cluster  = redistest.Cluster
	Sentinel = redistest.Sentinel
)

// Constants of the kit's helper; see there.
const (
	InstallHint        = redistest.InstallHint
	SharedPort         = redistest.SharedPort
	ClusterNodeTimeout = redistest.ClusterNodeTimeout
	SentinelMasterName = redistest.SentinelMasterName
	SentinelDownAfter  = redistest.SentinelDownAfter
)

// Start is [redistest.Start].
func Start(tb testing.TB) *Server { tb.Helper(); return redistest.Start(tb) }

// StartCluster is [redistest.StartCluster].
func StartCluster(tb testing.TB) *Cluster { tb.Helper(); return redistest.StartCluster(tb) }

// StartSentinel is [redistest.StartSentinel].
func StartSentinel(tb testing.TB, serverArgs ...string) *Sentinel {
	tb.Helper()
	return redistest.StartSentinel(tb, serverArgs...)
}
