package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPort is used when an address names no port.
const DefaultRedisPort = "6379"

// Client settings that bound every call: with Redis gone a call fails within
// about two seconds instead of hanging a page.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = time.Second
	redisPoolTimeout = time.Second
)

// ParseRedisAddr reads the address of the Redis server:
//
//	host                       port 6379
//	host:port                  also [::1]:6379
//	host1:port,host2:port      several seeds: Redis Cluster, or Sentinels when
//	                           MasterName is then set on the options
//	redis://[user:pass@]host[:port][/db]
//	rediss://...               the same over TLS
//	redis://:pass@s1:26379?master_name=mymaster&addr=s2:26379
//	                           Sentinels s1 and s2, watching master mymaster
//
// password (REDIS_PWD) applies when the URL carries none. The options hold
// the client settings the store needs: short timeouts and no retries.
func ParseRedisAddr(addr, password string) (*redis.UniversalOptions, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, errors.New("store: redis address is empty (want host, host:port or redis://host:port)")
	}
	opts := &redis.UniversalOptions{Password: password}
	if strings.Contains(addr, "://") {
		if err := parseRedisURL(addr, opts); err != nil {
			return nil, fmt.Errorf("store: redis address %q: %w", redactURL(addr), err)
		}
	} else {
		for part := range strings.SplitSeq(addr, ",") {
			hp, err := hostPort(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("store: redis address %q: %w", addr, err)
			}
			opts.Addrs = append(opts.Addrs, hp)
		}
	}
	applyClientSettings(opts)
	return opts, nil
}

func parseRedisURL(raw string, opts *redis.UniversalOptions) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL itself may hold a password
		}
		return fmt.Errorf("not a valid URL: %w", err)
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		opts.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	default:
		return fmt.Errorf("scheme %q is not supported (use redis:// or rediss://)", u.Scheme)
	}
	if u.Opaque != "" {
		return errors.New("want redis://host:port, with two slashes")
	}
	if u.Fragment != "" {
		return errors.New("fragments are not supported")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	for k := range q {
		if k != "master_name" && k != "addr" {
			return fmt.Errorf("query parameter %q is not supported (only master_name and addr, for Sentinel and Cluster seeds)", k)
		}
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return errors.New("empty port")
		}
		port = DefaultRedisPort
	}
	if err := checkPort(port); err != nil {
		return err
	}
	opts.Addrs = []string{net.JoinHostPort(u.Hostname(), port)}
	// More seeds and a Sentinel master, named as go-redis's own URLs name them.
	for _, a := range q["addr"] {
		hp, err := hostPort(a)
		if err != nil {
			return fmt.Errorf("addr %q: %w", a, err)
		}
		opts.Addrs = append(opts.Addrs, hp)
	}
	opts.MasterName = q.Get("master_name")

	if u.User != nil {
		opts.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			opts.Password = pw
		}
	}
	switch db := strings.Trim(u.Path, "/"); {
	case db == "":
	case strings.Contains(db, "/"):
		return fmt.Errorf("path %q is not a database number", u.Path)
	default:
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return fmt.Errorf("database %q is not a number >= 0", db)
		}
		opts.DB = n
	}
	return nil
}

// hostPort checks one host[:port] and adds the default port.
func hostPort(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty host")
	}
	if strings.ContainsAny(s, "/@ \t") {
		return "", fmt.Errorf("%q is not a host, host:port or redis:// URL", s)
	}
	var host, port string
	switch h, p, err := net.SplitHostPort(s); {
	case err == nil:
		host, port = h, p
		if port == "" {
			return "", fmt.Errorf("%q has an empty port", s)
		}
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"): // [::1]
		host, port = s[1:len(s)-1], DefaultRedisPort
	case strings.Count(s, ":") > 1 && net.ParseIP(s) != nil: // ::1
		host, port = s, DefaultRedisPort
	case !strings.Contains(s, ":"):
		host, port = s, DefaultRedisPort
	default:
		return "", fmt.Errorf("%q is not a host or host:port", s)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	if err := checkPort(port); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// redactURL hides the user information of an address for error messages.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	return scheme + "://" + rest
}

// applyClientSettings sets what the store relies on and leaves the rest.
//
// MaxRetries is always -1: go-redis would resend a command whose answer was
// lost to a timeout, and a vote's MULTI/EXEC resent would count twice. A
// failed call is reported instead; the client reconnects by itself.
func applyClientSettings(o *redis.UniversalOptions) {
	o.MaxRetries = -1
	// Without this go-redis waits out its own timeouts whatever the caller's
	// deadline: a Redis that accepts and never answers took two seconds.
	o.ContextTimeoutEnabled = true
	if o.Protocol == 0 {
		o.Protocol = 2
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = redisDialTimeout
	}
	if o.DialerRetries == 0 {
		o.DialerRetries = 1 // one dial per call: five would outlast the bound
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = redisIOTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = redisIOTimeout
	}
	if o.PoolTimeout == 0 {
		o.PoolTimeout = redisPoolTimeout
	}
}
