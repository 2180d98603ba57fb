package store

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRedisAddr(t *testing.T) {
	tests := []struct {
		addr, password       string
		wantAddrs            []string
		wantUser             string
		wantPassword         string
		wantDB               int
		wantTLS              bool
		wantMaster           string
		wantSentinelPassword string
		wantDialTimeout      time.Duration
		wantPoolSize         int
		wantErr              string // part of the error; "" for none
	}{
		{addr: "redis", wantAddrs: []string{"redis:6379"}},
		{addr: "  azure-vote-back  ", password: "pw", wantAddrs: []string{"azure-vote-back:6379"}, wantPassword: "pw"},
		{addr: "10.0.0.5:6380", wantAddrs: []string{"10.0.0.5:6380"}},
		{addr: "::1", wantAddrs: []string{"[::1]:6379"}},
		{addr: "[::1]", wantAddrs: []string{"[::1]:6379"}},
		{addr: "[::1]:7000", wantAddrs: []string{"[::1]:7000"}},
		{addr: "a:7000,b:7001, c", wantAddrs: []string{"a:7000", "b:7001", "c:6379"}},
		{addr: "redis://h", password: "env", wantAddrs: []string{"h:6379"}, wantPassword: "env"},
		{addr: "redis://:pw@h:1/2", password: "env", wantAddrs: []string{"h:1"}, wantPassword: "pw", wantDB: 2},
		{addr: "redis://user:pw@h:6390/", wantAddrs: []string{"h:6390"}, wantUser: "user", wantPassword: "pw"},
		{addr: "redis://user@h", password: "env", wantAddrs: []string{"h:6379"}, wantUser: "user", wantPassword: "env"},
		{addr: "rediss://:pw@cache.redis.cache.windows.net:6380/0", wantAddrs: []string{"cache.redis.cache.windows.net:6380"}, wantPassword: "pw", wantTLS: true},
		{addr: "redis://[::1]:7000", wantAddrs: []string{"[::1]:7000"}},
		// Sentinel URLs as go-redis reads them: the user information is the
		// Sentinels', password= (or REDIS_PWD) the master's.
		{addr: "redis://s1:26379?master_name=mymaster&addr=s2:26379&addr=s3:26380", password: "env", wantAddrs: []string{"s1:26379", "s2:26379", "s3:26380"}, wantPassword: "env", wantMaster: "mymaster"},
		{addr: "redis://:spw@s1:26379?master_name=m&password=mpw", password: "env", wantAddrs: []string{"s1:26379"}, wantSentinelPassword: "spw", wantPassword: "mpw", wantMaster: "m"},
		{addr: "redis://c1:7000?addr=c2:7000&addr=c3:7000", wantAddrs: []string{"c1:7000", "c2:7000", "c3:7000"}},
		{addr: "redis://h?dial_timeout=3&pool_size=7", wantAddrs: []string{"h:6379"}, wantDialTimeout: 3 * time.Second, wantPoolSize: 7},
		{addr: "redis://h?db=4", wantAddrs: []string{"h:6379"}, wantDB: 4},
		{addr: "redis://c1:7000?addr=c2:7000", wantAddrs: []string{"c1:7000", "c2:7000"}},

		{addr: "", wantErr: "empty"},
		{addr: "h:abc", wantErr: `invalid port ":abc"`},
		{addr: "h:0", wantErr: `port "0"`},
		{addr: "h:65536", wantErr: `port "65536"`},
		{addr: "h:", wantErr: "empty port"},
		{addr: ":6379", wantErr: "no host"},
		{addr: "a,,b", wantErr: "empty host"},
		{addr: "h/x", wantErr: "not a host"},
		{addr: "http://h", wantErr: `scheme "http" is not supported (use redis:// or rediss://)`},
		{addr: "unix:///tmp/redis.sock", wantErr: "unix sockets are not supported"},
		{addr: "redis://h:99999", wantErr: `port "99999"`},
		{addr: "redis://h:x", wantErr: "not a valid URL"},
		{addr: "redis://", wantErr: "no host"},
		{addr: "redis://h/db", wantErr: `invalid database number: "db"`},
		{addr: "redis://h/1/2", wantErr: "invalid URL path"},
		{addr: "redis://h/-1", wantErr: "database -1 is not a number >= 0"},
		{addr: "redis://h?frobnicate=3", wantErr: `query parameter "frobnicate" is not supported`},
		{addr: "redis://h?max_retries=3", wantErr: "would count twice"},
		{addr: "redis://h?dial_timeout=soon", wantErr: "invalid dial_timeout duration"},
		{addr: "redis://h?addr=x:y", wantErr: `port "y" is not a number`},
		{addr: "redis://h?addr=s3", wantErr: "unable to parse addr param: s3"},
		{addr: "redis://h/1?addr=g:1", wantErr: "only database 0"},
		{addr: "redis://h?password=x", wantErr: `query parameter "password" is not supported`},
		{addr: "[", wantErr: "not a host"},
		{addr: "redis://[", wantErr: "not a valid URL"},
		{addr: "h:1,[", wantErr: "not a host"},
		{addr: "redis://h#frag", wantErr: "fragments"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			o, err := ParseRedisAddr(tt.addr, tt.password)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Addrs, tt.wantAddrs) || o.Username != tt.wantUser || o.Password != tt.wantPassword || o.DB != tt.wantDB {
				t.Errorf("got addrs %v user %q password %q db %d; want %v %q %q %d",
					o.Addrs, o.Username, o.Password, o.DB, tt.wantAddrs, tt.wantUser, tt.wantPassword, tt.wantDB)
			}
			if o.SentinelPassword != tt.wantSentinelPassword {
				t.Errorf("SentinelPassword = %q, want %q", o.SentinelPassword, tt.wantSentinelPassword)
			}
			if tt.wantDialTimeout != 0 && o.DialTimeout != tt.wantDialTimeout || tt.wantPoolSize != o.PoolSize {
				t.Errorf("DialTimeout %v PoolSize %d, want %v %d", o.DialTimeout, o.PoolSize, tt.wantDialTimeout, tt.wantPoolSize)
			}
			if o.MasterName != tt.wantMaster {
				t.Errorf("MasterName = %q, want %q", o.MasterName, tt.wantMaster)
			}
			if (o.TLSConfig != nil) != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", o.TLSConfig != nil, tt.wantTLS)
			}
			if tt.wantTLS && o.TLSConfig.ServerName != strings.Split(tt.wantAddrs[0], ":")[0] {
				t.Errorf("TLS server name = %q", o.TLSConfig.ServerName)
			}
			if o.MaxRetries != -1 {
				t.Errorf("MaxRetries = %d, want -1", o.MaxRetries)
			}
			// A caller's deadline (a vote's store timeout) must end every wait.
			if !o.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled is off: go-redis would ignore the caller's deadline")
			}
		})
	}
}

// An address that holds a password never shows it in an error, whether it
// is a URL, a URL with a typo, or not a URL at all.
func TestParseRedisAddrHidesPassword(t *testing.T) {
	for _, addr := range []string{
		":s3cret@h:6379", "user:s3cret@h", "redis//:s3cret@h", "redis:/:s3cret@h", "s3cret@h,h2",
		"redis://:s3cret@h:x", "redis://u:s3cret@h/db", "ftp://u:s3cret@h", "redis://:s3cret@[",
		"redis://u:s3cret@h?addr=s3cret", "redis://:s3cret@/x", "redis://:s3%63ret@h/x",
		"redis://h?master_name=m&password=s3cret&frobnicate=1", "redis://h?master_name=m&password=s3cret&addr=s3cret",
		"redis://s3cret:s3cret@h?max_retries=s3cret",
	} {
		_, err := ParseRedisAddr(addr, "")
		if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseRedisAddr(%q) err = %v; want one line without the password", addr, err)
		}
	}
	// REDIS_PWD is never shown either.
	if _, err := ParseRedisAddr("redis://h/s3cret", "s3cret"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v; want one without REDIS_PWD", err)
	}
}
