package store

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// The marks end the passwords the fuzzed inputs get: neither may come out
// in an error.
const (
	secretMark = "Fz9sEcReT"
	envMark    = "Pw7mArK"
)

// FuzzParseRedisAddr reads any REDIS and REDIS_PWD. No panic; an error is
// one line and repeats no password, whether the address's own (put in its
// user information) or REDIS_PWD; an
// accepted address gives dialable host:port seeds and the store's client
// settings. The corpus in testdata/fuzz runs with every go test.
func FuzzParseRedisAddr(f *testing.F) {
	for _, s := range []string{
		"redis", "h:6380", "::1", "[::1]:7000", "a:7000,b:7001, c", "[", "h:", ":6379", "a,,b",
		"redis://h", "redis://u@h:1/2", "rediss://u@cache.redis.cache.windows.net:6380/0",
		"redis://u@s1:26379?master_name=m&addr=s2:26379&password=x", "redis://c1:7000?addr=c2:7000",
		"u@h:6379", "redis//u@h", "redis:/u@h", "redis://u@h:x", "redis://u@h/db", "redis://u@h?max_retries=2",
		"unix:///tmp/redis.sock", "redis://u@h?addr=x:y", "redis://u@[", "redis://u@h/1?addr=g:1",
	} {
		f.Add(s, "")
		f.Add(s, "env-")
	}
	f.Fuzz(func(t *testing.T, addr, password string) {
		if strings.Contains(addr, secretMark) || strings.Contains(addr, envMark) {
			return // the marks must be ours
		}
		password += envMark
		// The address's first user information gets the mark as password.
		withSecret := strings.Replace(addr, "@", ":"+secretMark+"@", 1)
		o, err := ParseRedisAddr(withSecret, password)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error of more than one line: %q", msg)
			}
			if strings.Contains(msg, secretMark) || strings.Contains(msg, envMark) {
				t.Errorf("ParseRedisAddr(%q, %q): the error shows a password: %s", withSecret, password, msg)
			}
			return
		}
		if len(o.Addrs) == 0 {
			t.Fatalf("ParseRedisAddr(%q) accepted no address", withSecret)
		}
		for _, a := range o.Addrs {
			host, port, err := net.SplitHostPort(a)
			n, perr := strconv.Atoi(port)
			if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
				t.Errorf("ParseRedisAddr(%q) accepted seed %q", withSecret, a)
			}
		}
		if o.MaxRetries != -1 || !o.ContextTimeoutEnabled {
			t.Errorf("ParseRedisAddr(%q): MaxRetries %d, ContextTimeoutEnabled %v", withSecret, o.MaxRetries, o.ContextTimeoutEnabled)
		}
	})
}
