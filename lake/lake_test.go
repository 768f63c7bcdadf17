package lake_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"

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
		"  catalog: sqlite://lake.db\n  warehouse: ./lake\n").builtBinary()
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

	// A column new in the warehouse is a schema evolution: the lake table
	// gains it, and the snapshot before it still reads as it did.
	db, err := sql.Open("duckdb", wh)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`ALTER TABLE repairops.tickets ADD COLUMN lake_note VARCHAR; UPDATE repairops.tickets SET lake_note = 'note ' || id WHERE account = 'metro'`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, out := h.run(t, "lake", "publish", "-c", h.config); code != 0 {
		t.Fatalf("lake publish after a new column: exit %d\n%s", code, out)
	}
	loc, err := icebergread.MetadataLocation(context.Background(), catalog, lake.CatalogName, "repairops", "tickets")
	if err != nil {
		t.Fatal(err)
	}
	now, err := icebergread.Reader{}.Current(loc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(now.Columns, "lake_note") {
		t.Fatalf("the lake's repairops.tickets has columns %v: no lake_note", now.Columns)
	}
	if got, want := countWhere(t, now.Files, "lake_note IS NOT NULL"), rowsOf(third.totals["repairops.tickets"]["metro"]); got != want {
		t.Errorf("%d rows with lake_note in the lake, want metro's %d", got, want)
	}
	before, err := icebergread.Reader{}.At(loc, third.snapshots["repairops.tickets"])
	if err != nil {
		t.Fatalf("the snapshot before the new column: %v", err)
	}
	if slices.Contains(before.Columns, "lake_note") {
		t.Error("the snapshot before the new column has it in its schema")
	}
	if got, want := countWhere(t, before.Files, "true"), rowsOf(third.totals["repairops.tickets"]["metro"])+rowsOf(third.totals["repairops.tickets"]["coast"]); got != want {
		t.Errorf("the snapshot before the new column reads %d rows, want %d", got, want)
	}
}

// countWhere counts the rows of data files (file://) that match cond.
func countWhere(t *testing.T, files []icebergread.DataFile, cond string) int64 {
	t.Helper()
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	var paths []string
	for _, f := range files {
		paths = append(paths, "'"+strings.TrimPrefix(f.Path, "file://")+"'")
	}
	var n int64
	if err := duck.QueryRow(fmt.Sprintf(`SELECT count(*) FROM read_parquet([%s], union_by_name = true) WHERE %s`, strings.Join(paths, ", "), cond)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
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
		newHost(t, s, []account{{"h1-north", "mgr", "north"}, {"h1-metro", "repairops", "metro"}}, block, env...).builtBinary(),
		newHost(t, s, []account{{"h2-south", "mgr", "south"}, {"h2-coast", "repairops", "coast"}}, block, env...).builtBinary(),
		newHost(t, s, []account{{"h3-north", "mgr", "north"}, {"h3-coast", "repairops", "coast"}}, block, env...).builtBinary(),
		newHost(t, s, []account{{"h4-south", "mgr", "south"}, {"h4-metro", "repairops", "metro"}}, block, env...).builtBinary(),
	}
	// Each host first loads its warehouse (its config without lake:),
	// then all four publish at the same moment: their commits collide.
	for i, h := range hosts {
		if code, out := h.run(t, "run", "-c", h.local, "--no-progress"); code != 0 {
			t.Fatalf("host %d's run: exit %d\n%s", i+1, code, out)
		}
	}
	// Maintenance runs all along too: compactions and expiries are
	// commits that race the publishers'.
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
	maintained := make(chan string, 1)
	published := make(chan struct{})
	go func() {
		// Once as they start, once more while they publish.
		var log strings.Builder
		for range 2 {
			code, out := hosts[0].run(t, "lake", "maintain", "-c", hosts[0].config, "--keep", "0s")
			fmt.Fprintf(&log, "exit %d: %s", code, out)
			select {
			case <-published:
			case <-time.After(2 * time.Second):
			}
		}
		maintained <- log.String()
	}()
	wg.Wait()
	close(published)
	if m := <-maintained; strings.Contains(m, "exit 1") || strings.Contains(m, "exit 3") {
		t.Errorf("lake maintain beside the publishers failed:\n%s", m)
	} else {
		t.Logf("lake maintain beside the publishers:\n%s", m)
	}
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
	all := union(want...)
	sameTotals(t, all, got.totals)
	for _, name := range []string{"main.invoices", "repairops.tickets", "mgr.ticket_invoices"} {
		for _, a := range keys(got.totals[name]) {
			t.Logf("%s %s: warehouse %s | lake %s", name, a, all[name][a], got.totals[name][a])
		}
	}
}

// Bad lake settings fail the run with one line that names the part (exit
// 1), after the warehouse commit and the Parquet publish, which they
// leave as they are; the lake's queue keeps every account for the next
// run, which publishes them once the lake is fixed.
func TestABadLakeIsAClearFailureThatLosesNothing(t *testing.T) {
	t.Parallel()
	s := startSims(t)
	uri := pgtest.Start(t)
	store := s3test.Start(t, "lake")
	good := "  catalog_env: LAKE_CATALOG_URI\n  warehouse: s3://lake/wh\n  s3_endpoint: " + store.URL + "\n"
	env := append(s3test.Env(s3test.SecretKey), "LAKE_CATALOG_URI="+uri)
	h := newHost(t, s, []account{{"north", "mgr", "north"}, {"metro", "repairops", "metro"}}, good, env...).builtBinary()
	if code, out := h.run(t, "run", "-c", h.local, "--no-progress"); code != 0 {
		t.Fatalf("run without a lake: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		name  string
		block string
		env   []string
		want  string // a pattern of the last line
	}{
		{"an unreachable catalog", good, []string{"LAKE_CATALOG_URI=postgres://postgres@127.0.0.1:1/lake?sslmode=disable"},
			`lake catalog \(postgres 127\.0\.0\.1:1/lake\): cannot connect: .*connection refused`},
		{"a wrong S3 secret", good, s3test.Env("not-the-secret"),
			`S3 refused the request's signature \(SignatureDoesNotMatch\)`},
		{"a missing bucket", strings.Replace(good, "s3://lake/", "s3://no-such-bucket/", 1), nil,
			`bucket no-such-bucket does not exist`},
		{"a catalog database with another iceberg_tables", "  catalog: sqlite://" + foreignCatalog(t) + "\n  warehouse: ./lake\n", nil,
			`lake catalog \(sqlite .*other\.db\): its iceberg_tables table is not the Iceberg SQL \(JDBC\) catalog's layout`},
		{"a lake table of another layout", "  catalog: sqlite://" + otherLayout(t) + "\n  warehouse: ./lake\n", nil,
			`lake table mgr.tickets has another layout than this warehouse publishes: column created_date is string in the lake, timestamptz in the warehouse`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(h.dir, "bad.yaml")
			local, _ := os.ReadFile(h.local)
			if err := os.WriteFile(cfg, append(local, []byte("lake:\n"+tc.block)...), 0o644); err != nil {
				t.Fatal(err)
			}
			bad := h
			bad.env = append(slices.Clone(h.env), tc.env...)
			before := parquetFiles(t, filepath.Join(h.dir, "pq"))
			if _, err := s.ro.ChangeTickets("metro", 1, time.Now()); err != nil {
				t.Fatal(err)
			}
			code, out := bad.run(t, "run", "-c", cfg, "--no-progress", "--log-format", "text")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !regexp.MustCompile(tc.want).MatchString(last) || !strings.HasPrefix(last, "repairshop-export: ") {
				t.Fatalf("exit %d, last line:\n%s\nwant exit 1 and a line matching %s; whole output:\n%s", code, last, tc.want, out)
			}
			t.Log(last)
			// check says the same, before any run.
			if !strings.Contains(tc.name, "lake table") {
				code, out := bad.run(t, "check", "-c", cfg)
				if code != 1 || !regexp.MustCompile(`FAIL\s+lake (catalog|storage)\s+.*`+tc.want).MatchString(out) {
					t.Errorf("check: exit %d, want 1 and a FAIL line matching %s:\n%s", code, tc.want, out)
				}
			}
			if strings.Contains(out, s3test.SecretKey) || strings.Contains(out, "not-the-secret") {
				t.Error("the output shows the S3 secret")
			}
			if after := parquetFiles(t, filepath.Join(h.dir, "pq")); after == before {
				t.Error("the Parquet tree did not change: the run's Parquet publish did not happen")
			}
			if n := queued(t, filepath.Join(h.dir, "w.duckdb")); n == 0 {
				t.Error("the warehouse's lake queue is empty: the next run would not publish what failed")
			}
		})
	}
	// Fixed, the next run publishes everything that waited.
	if code, out := h.run(t, "run", "-c", h.config, "--no-progress"); code != 0 {
		t.Fatalf("run with the lake fixed: exit %d\n%s", code, out)
	}
	catalog, err := sql.Open("pgx", uri)
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	wh := filepath.Join(h.dir, "w.duckdb")
	sameTotals(t, warehouseTotals(t, wh), readLake(t, catalog, icebergread.Reader{S3: store.Get}, decimalsOf(t, wh)).totals)
	if n := queued(t, wh); n != 0 {
		t.Errorf("%d (table, account) still queued for the lake after a good publish", n)
	}
}

// parquetFiles lists the Parquet tree's files with their times, as one
// string: it changes when a publish rewrote any.
func parquetFiles(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			fmt.Fprintf(&b, "%s %d\n", p, info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// queued counts the warehouse's (table, account) pairs waiting for the
// lake.
func queued(t *testing.T, warehouse string) int {
	t.Helper()
	db, err := sql.Open("duckdb", warehouse+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM meta.lake_queue`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// foreignCatalog is a SQLite file whose iceberg_tables table is some
// other program's.
func foreignCatalog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE iceberg_tables (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	return path
}

// otherLayout is a SQLite catalog holding an Iceberg table mgr.tickets
// whose created_date is a string (the warehouse's is a TIMESTAMPTZ), made with
// iceberg-go as another program would.
func otherLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cat.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := sqlcat.NewCatalog(lake.CatalogName, db, sqlcat.SQLite, iceberg.Properties{"warehouse": "file://" + dir + "/wh"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cat.CreateNamespace(ctx, table.Identifier{"mgr"}, nil); err != nil {
		t.Fatal(err)
	}
	sc := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "account", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 2, Name: "id", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 3, Name: "created_date", Type: iceberg.PrimitiveTypes.String})
	if _, err := cat.CreateTable(ctx, table.Identifier{"mgr", "tickets"}, sc); err != nil {
		t.Fatal(err)
	}
	return path
}
