package export

import (
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// shardOf is the documented function, computed here on its own: 1 +
// FNV-1a 64 of the account's name, modulo N.
func shardOf(name string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(name))
	return 1 + int(h.Sum64()%uint64(n))
}

// --shard I/N gives plan, run and check one host's part of the accounts:
// plan shows the split and plans only this part; a bad or empty shard is
// a config error (exit 2) in every command.
func TestShardsSplitTheAccountsBetweenHosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names := []string{"north", "south", "metro", "coast", "harbor", "hill"}
	var b strings.Builder
	b.WriteString("warehouse: ./w.duckdb\nstate_dir: ./state\naccounts:\n")
	for _, n := range names {
		b.WriteString("  - {name: " + n + ", source: mgr, base_url: \"http://127.0.0.1:1/v1\", api_key_env: TEST_SHARD_KEY}\n")
	}
	cfg := writeConfig(t, dir, b.String())
	setEnv(t, []string{"TEST_SHARD_KEY=k-shard"})
	for i := 1; i <= 2; i++ {
		shard := []string{"1/2", "2/2"}[i-1]
		code, out, stderr := runCLI(t, "plan", "--config", cfg, "--shard", shard)
		if code != exitOK {
			t.Fatalf("plan --shard %s: exit %d %s", shard, code, stderr)
		}
		if !strings.Contains(out, "shard "+shard+"; the split: 1/2: ") {
			t.Errorf("plan --shard %s does not show the split:\n%s", shard, out)
		}
		body := out[strings.Index(out, "\n\n"):]
		for _, n := range names {
			if in, planned := shardOf(n, 2) == i, strings.Contains(body, n); in != planned {
				t.Errorf("plan --shard %s: account %s planned %v, want %v:\n%s", shard, n, planned, in, body)
			}
		}
	}
	empty := ""
	for n := 2; n < 40 && empty == ""; n++ {
		var used []int
		for _, a := range names {
			used = append(used, shardOf(a, n))
		}
		for i := 1; i <= n; i++ {
			if !slices.Contains(used, i) {
				empty = strconv.Itoa(i) + "/" + strconv.Itoa(n)
				break
			}
		}
	}
	for _, args := range [][]string{
		{"run", "--config", cfg, "--shard", "3/2"},
		{"plan", "--config", cfg, "--shard", "two"},
		{"check", "--config", cfg, "--shard", "0/4"},
		{"run", "--config", cfg, "--shard", empty},
	} {
		code, out, stderr := runCLI(t, args...)
		stderr += out
		want := "want I/N"
		if args[len(args)-1] == empty {
			want = "holds none of the 6 configured accounts"
		}
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d %q, want 2 saying %q", args, code, stderr, want)
		}
	}
}
