package config

import (
	"fmt"
	"strings"
)

// DefaultClusterPrefix is REDIS_PREFIX's default with Redis Cluster. The
// hash tag {azure-vote} puts every key in one slot, as a vote's MULTI/EXEC
// and the ledger's scripts need.
const DefaultClusterPrefix = "{azure-vote}:"

// RedisKeyPrefix is the prefix of every Redis key. cluster says whether
// REDIS names a Redis Cluster, which runs a multi-key transaction only when
// all its keys share a hash slot: there the default is DefaultClusterPrefix,
// and a REDIS_PREFIX without a hash tag is refused rather than failing every
// vote with CROSSSLOT while the app looks healthy.
func (c Config) RedisKeyPrefix(cluster bool) (string, error) {
	switch {
	case !cluster:
		return c.RedisPrefix, nil
	case !c.RedisPrefixSet:
		return DefaultClusterPrefix, nil
	case !HasHashTag(c.RedisPrefix):
		return "", fmt.Errorf("REDIS_PREFIX=%q: Redis Cluster needs a hash tag in the prefix so that a vote's keys share one slot; set REDIS_PREFIX=%q, or unset it for %q",
			c.RedisPrefix, "{"+strings.Trim(c.RedisPrefix, ":{}")+"}:", DefaultClusterPrefix)
	}
	return c.RedisPrefix, nil
}

// HasHashTag reports whether every key that starts with prefix hashes to the
// same Redis Cluster slot: Redis hashes only what lies between a key's first
// '{' and the next '}', when that is not empty, so both must be inside the
// prefix with something between them.
func HasHashTag(prefix string) bool {
	open := strings.IndexByte(prefix, '{')
	if open < 0 {
		return false
	}
	return strings.IndexByte(prefix[open+1:], '}') > 0
}
