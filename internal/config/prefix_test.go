package config

import (
	"strings"
	"testing"
)

func TestHasHashTag(t *testing.T) {
	for prefix, want := range map[string]bool{
		"{azure-vote}:": true,
		"app:{v}:":      true,
		"{a}{b}:":       true,
		"{}x":           false, // an empty tag: Redis hashes the whole key
		"{}{x}:":        false, // only the first '{' counts
		"azure-vote:":   false,
		"{azure-vote:":  false, // the tag would end in the key's own part
		"azure}-{vote":  false,
		"":              false,
	} {
		if got := HasHashTag(prefix); got != want {
			t.Errorf("HasHashTag(%q) = %v, want %v", prefix, got, want)
		}
	}
}

func TestRedisKeyPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix  string // REDIS_PREFIX; "" unset
		cluster bool
		want    string
		wantErr string
	}{
		{"", false, "azure-vote:", ""},
		{"", true, "{azure-vote}:", ""},
		{"azure-vote:", false, "azure-vote:", ""},
		{"{tenant-1}:", true, "{tenant-1}:", ""},
		{"azure-vote:", true, "", `REDIS_PREFIX="azure-vote:": Redis Cluster needs a hash tag`},
		{"shop:", true, "", `set REDIS_PREFIX="{shop}:"`},
	} {
		c, err := FromEnv(env(map[string]string{"REDIS_PREFIX": tc.prefix}))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.RedisKeyPrefix(tc.cluster)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("REDIS_PREFIX=%q cluster=%v: %q, %v; want %q", tc.prefix, tc.cluster, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n")):
			t.Errorf("REDIS_PREFIX=%q cluster=%v: err %v, want one line with %q", tc.prefix, tc.cluster, err, tc.wantErr)
		}
	}
}
