package store

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterStateReload is how old the client's map of a Cluster's slots may
// grow before it is read again. go-redis rereads it at once on a MOVED
// answer, but a master that died answers nothing: with go-redis's default
// of a minute, votes failed for a minute after the cluster had promoted the
// replica. One CLUSTER SLOTS every two seconds is cheap.
const clusterStateReload = 2 * time.Second

// IsCluster reports whether opts select a Redis Cluster client, by the rule
// of go-redis's NewUniversalClient: no Sentinel master name, and several
// seeds or IsClusterMode. In a Cluster the key prefix needs a hash tag (see
// the package documentation).
func IsCluster(opts *redis.UniversalOptions) bool {
	return opts != nil && opts.MasterName == "" && (len(opts.Addrs) > 1 || opts.IsClusterMode)
}

// newClient is redis.NewUniversalClient with the store's Cluster settings,
// which UniversalOptions cannot carry.
func newClient(opts *redis.UniversalOptions) redis.UniversalClient {
	if !IsCluster(opts) {
		return redis.NewUniversalClient(opts)
	}
	co := opts.Cluster()
	co.ClusterStateReloadInterval = clusterStateReload
	return redis.NewClusterClient(co)
}
