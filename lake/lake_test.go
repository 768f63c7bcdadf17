package lake_test

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repairshop/export/internal/icebergread"
	"github.com/repairshop/export/internal/pgtest"
	"github.com/repairshop/export/internal/s3test"
	"github.com/repairshop/export/lake"
)

// A run publishes every table, history table and conformed view to a
// lake on one host (SQLite catalog, file:// warehouse); an independent
// reader finds the warehouse's counts and sums in it, per table and
// account. A run that changed nothing commits nothing; a run that
// changed one account replaces that account's files only.
func TestARunPublishesEveryTableToTheLake(t *testing.T) {
	t.Parallel()
	s := startSims(t)
	h := newHost(t, s, []account{{"north", "mgr", "north"}, {"south", "mgr", "south"}, {"metro", "repairops", "metro"}, {"coast", "repairops", "coast"}},
		"  catalog: sqlite://lake.db\n  warehouse: ./lake\n")
	if code, out := h.run(t, "run", "-c", h.config, "--no-progress"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	wh := filepath.Join(h.dir, "w.duckdb")
	catalog, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "lake.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	decs := decimalsOf(t, wh)
	first := readLake(t, catalog, icebergread.Reader{}, decs)
	if len(first.snapshots) != len(lake.AllTargets()) {
		t.Errorf("the lake has %d tables, want every one of the %d the warehouse declares", len(first.snapshots), len(lake.AllTargets()))
	}
	sameTotals(t, warehouseTotals(t, wh), first.totals)

	// Nothing changed at the source: no commit.
	if code, out := h.run(t, "run", "-c", h.config, "--no-progress"); code != 0 || !strings.Contains(out, "lake: nothing changed") {
		t.Fatalf("second run: exit %d, want the lake to say nothing changed\n%s", code, out)
	}
	second := readLake(t, catalog, icebergread.Reader{}, decs)
	for name, id := range first.snapshots {
		if second.snapshots[name] != id {
			t.Errorf("%s: a run that changed nothing moved its snapshot from %d to %d", name, id, second.snapshots[name])
		}
	}

	// Metro's tickets change: only metro's files of repairops.tickets are
	// replaced; coast's stay as they were.
	if _, err := s.ro.ChangeTickets("metro", 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, out := h.run(t, "run", "-c", h.config, "--no-progress"); code != 0 {
		t.Fatalf("third run: exit %d\n%s", code, out)
	}
	third := readLake(t, catalog, icebergread.Reader{}, decs)
	sameTotals(t, warehouseTotals(t, wh), third.totals)
	if third.snapshots["repairops.tickets"] == second.snapshots["repairops.tickets"] {
		t.Error("repairops.tickets: metro's changed tickets made no commit")
	}
	if a, b := filesOf(second, "repairops.tickets", "coast"), filesOf(third, "repairops.tickets", "coast"); a != b || a == "" {
		t.Errorf("coast's files of repairops.tickets changed with metro's commit:\nbefore %s\nafter  %s", a, b)
	}
	if a, b := filesOf(second, "repairops.tickets", "metro"), filesOf(third, "repairops.tickets", "metro"); a == b {
		t.Errorf("metro's files of repairops.tickets are the same after its tickets changed: %s", a)
	}
	if third.snapshots["mgr.tickets"] != second.snapshots["mgr.tickets"] {
		t.Error("mgr.tickets: a RepairOps change committed to an MGR table")
	}
}

// filesOf lists an account's live files of a table, sorted, as one string.
func filesOf(v lakeView, table, account string) string {
	var out []string
	for _, f := range v.files[table] {
		if f.Partition["account"] == account {
			out = append(out, filepath.Base(f.Path))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Four hosts, each with its own accounts of both sources, publish at the
// same moment into one Postgres catalog and one S3 server: every lake
// table equals the union of the four warehouses, with no commit lost
// (every host exits 0) and no row twice; the commits that lost a race
// and were retried are counted.
func TestFourHostsPublishAtOnce(t *testing.T) {
	t.Parallel()
	s := startSims(t)
	uri := pgtest.Start(t)
	store := s3test.Start(t, "lake")
	block := "  catalog_env: LAKE_CATALOG_URI\n  warehouse: s3://lake/warehouse\n  s3_endpoint: " + store.URL + "\n"
	env := append(s3test.Env(s3test.SecretKey), "LAKE_CATALOG_URI="+uri)
	hosts := []host{
		newHost(t, s, []account{{"h1-north", "mgr", "north"}, {"h1-metro", "repairops", "metro"}}, block, env...),
		newHost(t, s, []account{{"h2-south", "mgr", "south"}, {"h2-coast", "repairops", "coast"}}, block, env...),
		newHost(t, s, []account{{"h3-north", "mgr", "north"}, {"h3-coast", "repairops", "coast"}}, block, env...),
		newHost(t, s, []account{{"h4-south", "mgr", "south"}, {"h4-metro", "repairops", "metro"}}, block, env...),
	}
	// Each host first loads its warehouse (its config without lake:),
	// then all four publish at the same moment: their commits collide.
	for i, h := range hosts {
		if code, out := h.run(t, "run", "-c", h.local, "--no-progress"); code != 0 {
			t.Fatalf("host %d's run: exit %d\n%s", i+1, code, out)
		}
	}
	var wg sync.WaitGroup
	outs := make([]string, len(hosts))
	codes := make([]int, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i] = h.run(t, "lake", "publish", "-c", h.config)
		}()
	}
	wg.Wait()
	retried := 0
	for i := range hosts {
		if codes[i] != 0 {
			t.Fatalf("host %d: exit %d\n%s", i+1, codes[i], outs[i])
		}
		m := regexp.MustCompile(`(\d+) commit\(s\) retried`).FindStringSubmatch(outs[i])
		if m == nil {
			t.Fatalf("host %d: no lake line in its output\n%s", i+1, outs[i])
		}
		n, _ := strconv.Atoi(m[1])
		retried += n
	}
	t.Logf("4 hosts published at once: %d commit(s) lost a race and were retried", retried)
	catalog, err := sql.Open("pgx", uri)
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	var want []map[string]totals
	for _, h := range hosts {
		want = append(want, warehouseTotals(t, filepath.Join(h.dir, "w.duckdb")))
	}
	got := readLake(t, catalog, icebergread.Reader{S3: store.Get}, decimalsOf(t, filepath.Join(hosts[0].dir, "w.duckdb")))
	sameTotals(t, union(want...), got.totals)
}
