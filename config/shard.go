package config

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/repairshop/export/extract"
)

// Shard is one host's part of the accounts when several hosts share the
// work (and one lake): `--shard I/N` takes the accounts whose ShardOf is
// I. The function is fixed, so every host computes the same split from
// the same config, whatever the order of its accounts.
type Shard struct{ I, N int }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// ParseShard reads "I/N": whole numbers with 1 ≤ I ≤ N.
func ParseShard(v string) (Shard, error) {
	i, n, ok := strings.Cut(v, "/")
	si, err1 := strconv.Atoi(strings.TrimSpace(i))
	sn, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil || sn < 1 || si < 1 || si > sn {
		return Shard{}, Usagef("--shard %q: want I/N, whole numbers with 1 ≤ I ≤ N (this host's part, e.g. 2/3)", v)
	}
	return Shard{si, sn}, nil
}

// ShardOf is the shard (1..n) an account falls in: 1 + the FNV-1a 64-bit
// hash of its name (the config's name:, as bytes) modulo n.
func ShardOf(account string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(account))
	return 1 + int(h.Sum64()%uint64(n))
}

// Split lists the accounts of each of n shards, in config order.
func (c *Config) Split(n int) [][]string {
	out := make([][]string, n)
	for _, a := range c.Accounts {
		i := ShardOf(a.Name, n) - 1
		out[i] = append(out[i], a.Name)
	}
	return out
}

// Shard keeps the accounts of shard s; a shard that holds none is an
// error, naming the split (a host that would export nothing is a
// misconfigured host).
func (c *Config) Shard(s Shard) error {
	var kept []extract.Account
	for _, a := range c.Accounts {
		if ShardOf(a.Name, s.N) == s.I {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		return Usagef("--shard %s holds none of the %d configured accounts (%s); use fewer shards", s, len(c.Accounts), c.SplitText(s.N))
	}
	c.Accounts = kept
	return nil
}

// ApplyShard keeps the accounts of shard v ("I/N", as --shard gives it)
// and records the whole split in Sharded, for plan to show.
func (c *Config) ApplyShard(v string) error {
	s, err := ParseShard(v)
	if err != nil {
		return err
	}
	split := c.SplitText(s.N)
	if err := c.Shard(s); err != nil {
		return err
	}
	c.Sharded = fmt.Sprintf("shard %s; the split: %s", s, split)
	return nil
}

// SplitText describes the split in one line: "1/2: north, metro; 2/2: south".
func (c *Config) SplitText(n int) string {
	var parts []string
	for i, names := range c.Split(n) {
		list := "none"
		if len(names) > 0 {
			list = strings.Join(names, ", ")
		}
		parts = append(parts, fmt.Sprintf("%d/%d: %s", i+1, n, list))
	}
	return strings.Join(parts, "; ")
}
