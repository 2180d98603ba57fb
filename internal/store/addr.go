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

// ParseRedisAddr reads the address of the Redis server. URLs are read by
// go-redis's own parsers, so they mean what go-redis documents:
//
//	redis://[user:pass@]host[:port][/db]            one server (redis.ParseURL)
//	rediss://...                                    the same over TLS
//	redis://host:port?addr=host2:port&addr=...      Redis Cluster seeds (redis.ParseClusterURL)
//	redis://[user:pass@]s1:26379?master_name=mymaster&addr=s2:26379[&password=...]
//	                                                Sentinels (redis.ParseFailoverURL): the user
//	                                                information is the Sentinels', password= the master's
//
// and the short forms are sugar for them:
//
//	host, host:port, [::1]:port       redis://host:port
//	host1:port,host2:port             redis://host1:port?addr=host2:port (Cluster)
//
// password (REDIS_PWD) is the server's (the master's) password when the URL
// gives none. Connection settings go-redis reads from the query
// (dial_timeout, pool_size, ...) are honoured, except max_retries: see
// applyClientSettings. No error repeats a password or the user information.
func ParseRedisAddr(addr, password string) (*redis.UniversalOptions, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, errors.New("store: redis address is empty (want host, host:port or redis://host:port)")
	}
	raw, err := redisURL(addr)
	if err != nil {
		return nil, errors.New(redact("store: redis address: "+err.Error(), "", password))
	}
	opts, err := parseRedisURL(raw)
	if err != nil {
		msg := fmt.Sprintf("store: redis address %q: %s", redactURL(raw), err)
		return nil, errors.New(redact(msg, raw, password))
	}
	if opts.Password == "" {
		opts.Password = password
	}
	applyClientSettings(opts)
	return opts, nil
}

// redisURL turns a short form into the URL it stands for; a URL is
// returned as is.
func redisURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		return addr, nil
	}
	if strings.Contains(addr, "@") {
		// Most likely a URL without its scheme, or with a typo in it
		// (":pw@h", "user:pw@h", "redis//:pw@h"): say so without
		// repeating any of it, as it holds a password.
		return "", errors.New("it holds user information but is not a redis:// URL: write redis://[user:password@]host:port, or give the password in REDIS_PWD")
	}
	var hosts []string
	for part := range strings.SplitSeq(addr, ",") {
		part = strings.TrimSpace(part)
		if strings.Count(part, ":") > 1 && net.ParseIP(part) != nil {
			part = "[" + part + "]" // a bare IPv6 address, ::1
		}
		hp, err := shortHostPort(part)
		if err != nil {
			return "", err
		}
		hosts = append(hosts, hp)
	}
	u := url.URL{Scheme: "redis", Host: hosts[0]}
	if len(hosts) > 1 {
		u.RawQuery = url.Values{"addr": hosts[1:]}.Encode()
	}
	return u.String(), nil
}

// shortHostPort checks one host[:port] of a short form and adds the
// default port, which go-redis wants on every Cluster seed but the first.
func shortHostPort(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty host")
	}
	if strings.ContainsAny(s, "/?#% \t") {
		return "", fmt.Errorf("%q is not a host, host:port or redis:// URL", s)
	}
	u, err := url.Parse("redis://" + s)
	if err != nil {
		return "", fmt.Errorf("%q is not a host or host:port: %w", s, unwrapURLError(err))
	}
	if strings.HasSuffix(s, ":") {
		return "", fmt.Errorf("%q has an empty port", s)
	}
	port := u.Port()
	if port == "" {
		port = DefaultRedisPort
	}
	hp := net.JoinHostPort(u.Hostname(), port)
	if err := checkHostPort(hp); err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	return hp, nil
}

// parseRedisURL reads raw with the go-redis parser for what it names, after
// refusing what those parsers would quietly read otherwise.
func parseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid URL: %w", unwrapURLError(err))
	}
	switch {
	case u.Scheme == "unix":
		return nil, errors.New("unix sockets are not supported (use redis:// or rediss://)")
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return nil, fmt.Errorf("scheme %q is not supported (use redis:// or rediss://)", u.Scheme)
	case u.Opaque != "":
		return nil, errors.New("want redis://host:port, with two slashes")
	case u.Fragment != "":
		return nil, errors.New("fragments are not supported")
	case u.Hostname() == "": // go-redis would take localhost
		return nil, errors.New("no host")
	case strings.HasSuffix(u.Host, ":"):
		return nil, errors.New("empty port")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	sentinel, cluster := q.Has("master_name"), q.Has("addr")
	for k := range q {
		if !carriedParams[k] && !(sentinel && k == "password" || sentinel && k == "username") {
			return nil, unsupportedParam(k)
		}
	}
	var o *redis.UniversalOptions
	switch {
	case sentinel:
		fo, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, err
		}
		o = fromFailover(fo)
	case cluster:
		if strings.Trim(u.Path, "/") != "" || q.Has("db") {
			return nil, errors.New("a Redis Cluster has only database 0: drop the path and db")
		}
		co, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, err
		}
		o = fromCluster(co)
	default:
		so, err := redis.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		o = fromSimple(so)
	}
	if o.DB < 0 {
		return nil, fmt.Errorf("database %d is not a number >= 0", o.DB)
	}
	for _, a := range o.Addrs {
		if err := checkHostPort(a); err != nil {
			return nil, err
		}
	}
	if o.TLSConfig != nil && o.TLSConfig.MinVersion == 0 {
		o.TLSConfig.MinVersion = tls.VersionTLS12
	}
	return o, nil
}

// carriedParams are the query parameters of go-redis's URLs that have a
// place in the options the store uses; any other is refused rather than
// dropped.
var carriedParams = map[string]bool{
	"addr": true, "master_name": true, "db": true, "protocol": true, "client_name": true,
	"dial_timeout": true, "read_timeout": true, "write_timeout": true,
	"pool_size": true, "pool_timeout": true, "min_idle_conns": true, "max_idle_conns": true,
	"max_active_conns": true, "conn_max_idle_time": true, "conn_max_lifetime": true,
	"skip_verify": true,
}

func unsupportedParam(k string) error {
	if k == "max_retries" {
		return errors.New("max_retries is not supported: a vote resent after a lost answer would count twice")
	}
	return fmt.Errorf("query parameter %q is not supported", k)
}

// The go-redis options, moved into the universal ones field by field:
// only the fields carriedParams can set, plus the address and credentials.

func fromSimple(o *redis.Options) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password,
		TLSConfig: o.TLSConfig, Protocol: o.Protocol, ClientName: o.ClientName,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout, MinIdleConns: o.MinIdleConns,
		MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
		ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
	}
}

func fromCluster(o *redis.ClusterOptions) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs: o.Addrs, Username: o.Username, Password: o.Password,
		TLSConfig: o.TLSConfig, Protocol: o.Protocol, ClientName: o.ClientName,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout, MinIdleConns: o.MinIdleConns,
		MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
		ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
	}
}

func fromFailover(o *redis.FailoverOptions) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs: o.SentinelAddrs, MasterName: o.MasterName, DB: o.DB,
		SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
		Username: o.Username, Password: o.Password,
		TLSConfig: o.TLSConfig, Protocol: o.Protocol, ClientName: o.ClientName,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout, MinIdleConns: o.MinIdleConns,
		MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
		ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
	}
}

// checkHostPort checks what go-redis leaves to the dialer: a host, and a
// port from 1 to 65535.
func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%q is not host:port", hp)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", hp)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// unwrapURLError drops the URL that url.Parse puts in its errors: it may
// hold a password.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL hides the user information of an address for error messages,
// also when the address does not parse: everything up to its last "@",
// the scheme excepted, and the value of a password= parameter.
func redactURL(raw string) string {
	shown := raw
	if at := strings.LastIndex(raw, "@"); at >= 0 {
		prefix := ""
		if scheme, _, ok := strings.Cut(raw[:at], "://"); ok && isScheme(scheme) {
			prefix = scheme + "://"
		}
		shown = prefix + "xxxxx" + raw[at:]
	}
	if u, err := url.Parse(shown); err == nil {
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return shown
}

func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && ('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// redact blanks, wherever msg repeats them (a go-redis error quoting part
// of the URL, say), the passwords of raw and password, and raw's user
// name, which some put a token in.
func redact(msg, raw, password string) string {
	secrets := []string{password}
	if at := strings.LastIndex(raw, "@"); at >= 0 {
		info := raw[:at]
		if _, rest, ok := strings.Cut(info, "://"); ok {
			info = rest
		}
		_, pw, _ := strings.Cut(info, ":")
		secrets = append(secrets, pw)
		if s, err := url.PathUnescape(pw); err == nil {
			secrets = append(secrets, s)
		}
		// Where the address is malformed, any part of what comes before
		// its last "@" may be the password; a part shorter than 3 would
		// blank common words.
		for _, part := range strings.FieldsFunc(info, func(r rune) bool { return strings.ContainsRune(":@?&=/#\"' \t", r) }) {
			if len(part) >= 3 {
				secrets = append(secrets, part)
			}
		}
	}
	if u, err := url.Parse(raw); err == nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw)
		}
		secrets = append(secrets, u.Query()["password"]...)
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
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
