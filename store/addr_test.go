package store

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRedisAddr(t *testing.T) {
	tests := []struct {
		addr, password string
		wantAddrs      []string
		wantUser       string
		wantPassword   string
		wantDB         int
		wantTLS        bool
		wantMaster     string
		wantErr        string // part of the error; "" for none
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
		{addr: "redis://:pw@s1:26379?master_name=mymaster&addr=s2:26379&addr=s3", wantAddrs: []string{"s1:26379", "s2:26379", "s3:6379"}, wantPassword: "pw", wantMaster: "mymaster"},
		{addr: "redis://c1:7000?addr=c2:7000", wantAddrs: []string{"c1:7000", "c2:7000"}},

		{addr: "", wantErr: "empty"},
		{addr: "h:abc", wantErr: `port "abc" is not a number from 1 to 65535`},
		{addr: "h:0", wantErr: `port "0"`},
		{addr: "h:65536", wantErr: `port "65536"`},
		{addr: "h:", wantErr: "empty port"},
		{addr: ":6379", wantErr: "no host"},
		{addr: "a,,b", wantErr: "empty host"},
		{addr: "h/x", wantErr: "not a host"},
		{addr: "http://h", wantErr: `scheme "http" is not supported (use redis:// or rediss://)`},
		{addr: "unix:///tmp/redis.sock", wantErr: `scheme "unix"`},
		{addr: "redis://h:99999", wantErr: `port "99999"`},
		{addr: "redis://h:x", wantErr: "not a valid URL"},
		{addr: "redis://", wantErr: "no host"},
		{addr: "redis://h/db", wantErr: `database "db" is not a number`},
		{addr: "redis://h/1/2", wantErr: "not a database number"},
		{addr: "redis://h?dial_timeout=3", wantErr: `query parameter "dial_timeout" is not supported`},
		{addr: "redis://h?addr=x:y", wantErr: `addr "x:y"`},
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

func TestParseRedisAddrHidesPassword(t *testing.T) {
	for _, addr := range []string{"redis://:s3cret@h:x", "redis://u:s3cret@h/db", "ftp://u:s3cret@h"} {
		_, err := ParseRedisAddr(addr, "")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseRedisAddr(%q) err = %v; want an error without the password", addr, err)
		}
	}
}
