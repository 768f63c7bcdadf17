package config

import (
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
)

func TestShardsAreParsedAsIOfN(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"1/1", Shard{1, 1}, ""},
		{"2/3", Shard{2, 3}, ""},
		{" 3 / 3 ", Shard{3, 3}, ""},
		{"0/3", Shard{}, "1 ≤ I ≤ N"},
		{"4/3", Shard{}, "1 ≤ I ≤ N"},
		{"1/0", Shard{}, "1 ≤ I ≤ N"},
		{"2", Shard{}, "want I/N"},
		{"a/b", Shard{}, "want I/N"},
	} {
		got, err := ParseShard(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want an error saying %q", tt.in, err, tt.err)
			}
			if _, usage := err.(UsageError); !usage {
				t.Errorf("%q: %T is not a usage error (exit 2)", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The shard is the documented function, computed here independently:
// 1 + FNV-1a 64 of the name, modulo N.
func TestShardOfIsFNV1aOfTheName(t *testing.T) {
	for _, name := range []string{"north", "south", "metro", "coast", "a", "shop-0001"} {
		for _, n := range []int{1, 2, 3, 7} {
			h := fnv.New64a()
			h.Write([]byte(name))
			if got, want := ShardOf(name, n), 1+int(h.Sum64()%uint64(n)); got != want {
				t.Errorf("ShardOf(%s, %d) = %d, want %d", name, n, got, want)
			}
		}
	}
}

// Every account falls in exactly one shard, whatever the order of the
// config; a shard with no account is an error that shows the split.
func TestShardsSplitTheAccountsOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("warehouse: w.duckdb\naccounts:\n")
	for i := 0; i < 40; i++ {
		b.WriteString("  - {name: shop-" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ", source: mgr, api_key_env: K}\n")
	}
	cfg, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		c := *cfg
		if err := c.Shard(Shard{i, 3}); err != nil {
			t.Fatal(err)
		}
		if len(c.Accounts) == 0 || len(c.Accounts) == 40 {
			t.Errorf("shard %d/3 holds %d of 40 accounts", i, len(c.Accounts))
		}
		for _, a := range c.Accounts {
			seen[a.Name]++
		}
	}
	if len(seen) != 40 {
		t.Errorf("%d accounts in the shards, want 40", len(seen))
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s is in %d shards", name, n)
		}
	}

	one, _ := Parse([]byte("warehouse: w.duckdb\naccounts:\n  - {name: north, source: mgr, api_key_env: K}\n"))
	empty := ShardOf("north", 2)%2 + 1 // the other shard
	if err := one.Shard(Shard{empty, 2}); err == nil || !strings.Contains(err.Error(), "holds none of the 1 configured accounts") || !strings.Contains(err.Error(), "north") {
		t.Errorf("an empty shard: %v", err)
	}
}

// --shard keeps the shard's accounts and says what the whole split was.
func TestApplyShardRecordsTheSplit(t *testing.T) {
	cfg, err := Parse([]byte("warehouse: w.duckdb\naccounts:\n  - {name: north, source: mgr, api_key_env: K}\n  - {name: south, source: mgr, api_key_env: K}\n  - {name: metro, source: repairops, api_key_env: K}\n"))
	if err != nil {
		t.Fatal(err)
	}
	split := cfg.SplitText(2)
	i := ShardOf("north", 2)
	if err := cfg.ApplyShard(strconv.Itoa(i) + "/2"); err != nil {
		t.Fatal(err)
	}
	if want := "shard " + strconv.Itoa(i) + "/2; the split: " + split; cfg.Sharded != want {
		t.Errorf("Sharded = %q, want %q", cfg.Sharded, want)
	}
	for _, a := range cfg.Accounts {
		if ShardOf(a.Name, 2) != i {
			t.Errorf("%s kept in shard %d", a.Name, i)
		}
	}
	if err := cfg.ApplyShard("x"); err == nil {
		t.Error("a bad shard was taken")
	}
}
