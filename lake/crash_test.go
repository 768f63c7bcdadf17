package lake_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"

	"github.com/repairshop/export/internal/crashpoint"
	"github.com/repairshop/export/internal/icebergread"
	"github.com/repairshop/export/lake"
)

// A publisher killed with SIGKILL at each step of a table's publish
// (files written; before the commit; inside it, the new metadata written
// and the catalog's row not yet moved; after it, before the warehouse
// records it) leaves the lake at a complete snapshot: a reader polling
// all along never sees a missing file, a row twice or a partial account.
// The next run converges exactly, and `lake maintain` then leaves no
// file the lake does not reference.
func TestAKilledPublisherLeavesCompleteSnapshots(t *testing.T) {
	t.Parallel()
	s := startSims(t)
	h := newHost(t, s, []account{{"north", "mgr", "north"}, {"metro", "repairops", "metro"}},
		"  catalog: sqlite://lake.db\n  warehouse: ./lake\n").builtBinary()
	if code, out := h.run(t, "run", "-c", h.config, "--no-progress"); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	wh := filepath.Join(h.dir, "w.duckdb")
	catalog, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "lake.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	decs := decimalsOf(t, wh)

	// The reader polls repairops.tickets throughout: every file there,
	// no ticket twice, and metro's count one the warehouse has had.
	base := warehouseTotals(t, wh)["repairops.tickets"]["metro"]
	var counts sync.Map // metro's ticket counts the warehouse has committed
	counts.Store(rowsOf(base), true)
	stop := make(chan struct{})
	var reads atomic.Int64
	var pollErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := checkSnapshot(catalog, "repairops", "tickets", &counts); err != nil {
				pollErr.Store(err.Error())
				return
			}
			reads.Add(1)
			time.Sleep(200 * time.Millisecond) // leave the cores to the publisher
		}
	}()

	for _, point := range []string{lake.HookFilesWritten, lake.HookBeforeCommit, lake.HookInCommit, lake.HookAfterCommit} {
		// One more metro ticket: the reader may see it as soon as the
		// lake commits, before the run ends.
		next := rowsOf(warehouseTotals(t, wh)["repairops.tickets"]["metro"]) + 1
		counts.Store(next, true)
		if _, err := s.ro.AddTickets("metro", 1, time.Now()); err != nil {
			t.Fatal(err)
		}
		cmd := h.command("run", "-c", h.config, "--no-progress")
		cmd.Env = append(cmd.Env, crashpoint.Env+"="+point)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "crash point "+point) {
			t.Fatalf("%s: the run was not killed there (%v)\n%s", point, err, out)
		}
		// Whether the kill came before or after the lake moved, the
		// warehouse has the new ticket committed.
		if got := rowsOf(warehouseTotals(t, wh)["repairops.tickets"]["metro"]); got != next {
			t.Fatalf("%s: the warehouse has %d metro tickets, want %d", point, got, next)
		}
		if code, out := h.run(t, "run", "-c", h.config, "--no-progress"); code != 0 {
			t.Fatalf("the run after the kill at %s: exit %d\n%s", point, code, out)
		}
		sameTotals(t, warehouseTotals(t, wh), readLake(t, catalog, icebergread.Reader{}, decs).totals)
	}
	close(stop)
	<-done
	if e := pollErr.Load(); e != nil {
		t.Fatalf("the polling reader saw an incomplete snapshot: %s", e)
	}
	if reads.Load() < 4 {
		t.Fatalf("the reader read only %d snapshots", reads.Load())
	}
	t.Logf("the reader read %d snapshots of repairops.tickets, all complete", reads.Load())

	// Another tool split a partition's file in two, as a streaming writer
	// leaves small files; maintenance compacts them back into one.
	split := splitAFile(t, h.dir, "repairops", "tickets")

	// Maintenance removes what the kills left: files no snapshot has.
	orphans := unreferenced(t, catalog, filepath.Join(h.dir, "lake"))
	if len(orphans) == 0 {
		t.Fatal("the kills left no unreferenced file: the test does not test maintenance")
	}
	if code, out := h.run(t, "lake", "maintain", "-c", h.config, "--keep", "0s", "--orphans-older-than", "0s"); code != 0 {
		t.Fatalf("lake maintain: exit %d\n%s", code, out)
	}
	if left := unreferenced(t, catalog, filepath.Join(h.dir, "lake")); len(left) > 0 {
		t.Errorf("after maintain, %d file(s) no snapshot references (of %d before), e.g. %s", len(left), len(orphans), left[0])
	}
	t.Logf("the kills and the expired snapshots left %d unreferenced file(s); maintain removed them", len(orphans))
	snap := currentSnapshot(t, catalog, "repairops", "tickets")
	n := 0
	for _, f := range snap.Files {
		if fmt.Sprint(f.Partition) == split {
			n++
		}
	}
	if n != 1 {
		t.Errorf("partition %s has %d files after maintain, want the two small ones compacted into 1", split, n)
	}
	sameTotals(t, warehouseTotals(t, wh), readLake(t, catalog, icebergread.Reader{}, decs).totals)
}

// rowsOf is the rows=N of a totals line.
func rowsOf(line string) int64 {
	var n int64
	fmt.Sscanf(line, "rows=%d", &n)
	return n
}

// checkSnapshot reads a table's current snapshot and checks it whole:
// every file readable, no (account, id) twice, metro's count one of
// counts.
func checkSnapshot(catalog *sql.DB, ns, name string, counts *sync.Map) error {
	ctx := context.Background()
	loc, err := icebergread.MetadataLocation(ctx, catalog, lake.CatalogName, ns, name)
	if err != nil || loc == "" {
		return err
	}
	snap, err := icebergread.Reader{}.Current(loc)
	if err != nil {
		return err
	}
	var files []string
	for _, f := range snap.Files {
		if _, err := os.Stat(strings.TrimPrefix(f.Path, "file://")); err != nil {
			return fmt.Errorf("snapshot %d lists a file that is not there: %v", snap.ID, err)
		}
		files = append(files, "'"+strings.TrimPrefix(f.Path, "file://")+"'")
	}
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer duck.Close()
	var dup, metro int64
	q := fmt.Sprintf(`SELECT (SELECT count(*) FROM (SELECT account, id FROM read_parquet([%[1]s]) GROUP BY ALL HAVING count(*) > 1)),
		(SELECT count(*) FROM read_parquet([%[1]s]) WHERE account = 'metro')`, strings.Join(files, ", "))
	if err := duck.QueryRow(q).Scan(&dup, &metro); err != nil {
		return fmt.Errorf("snapshot %d: %v", snap.ID, err)
	}
	if dup > 0 {
		return fmt.Errorf("snapshot %d has %d ticket(s) twice", snap.ID, dup)
	}
	if _, ok := counts.Load(metro); !ok {
		return fmt.Errorf("snapshot %d has %d metro tickets, a count the warehouse never had", snap.ID, metro)
	}
	return nil
}

// unreferenced lists the files under the lake's folder that no table's
// metadata reaches: not its current or logged metadata files, nor a
// retained snapshot's manifest list, manifests or live data files.
func unreferenced(t *testing.T, catalog *sql.DB, root string) []string {
	t.Helper()
	refs := map[string]bool{}
	for _, tg := range lake.AllTargets() {
		loc, err := icebergread.MetadataLocation(context.Background(), catalog, lake.CatalogName, tg.Namespace, tg.Name)
		if err != nil {
			t.Fatal(err)
		}
		if loc == "" {
			continue
		}
		files, err := icebergread.Reader{}.Referenced(loc)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			refs[strings.TrimPrefix(f, "file://")] = true
		}
	}
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !refs[p] {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// splitAFile replaces a table's first data file of two rows or more by two
// files with half its rows each, with iceberg-go and DuckDB, as another
// program writing to the lake would; it returns the partition, as the
// independent reader prints it.
func splitAFile(t *testing.T, dir, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "lake.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := sqlcat.NewCatalog(lake.CatalogName, db, sqlcat.SQLite, iceberg.Properties{"warehouse": "file://" + filepath.Join(dir, "lake")})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(ctx, table.Identifier{ns, name})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range tbl.Schema().Fields() {
		ids = append(ids, fmt.Sprintf("%q: %d", f.Name, f.ID))
	}
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	for _, task := range tasks {
		if task.File.Count() < 2 {
			continue
		}
		old := task.File.FilePath()
		var parts []string
		for half := range 2 {
			p := strings.TrimSuffix(old, ".parquet") + fmt.Sprintf("-half%d.parquet", half)
			q := fmt.Sprintf(`COPY (SELECT * EXCLUDE (__rn) FROM (SELECT *, row_number() OVER () AS __rn FROM read_parquet('%s', hive_partitioning = false)) WHERE __rn %% 2 = %d)
				TO '%s' (FORMAT parquet, FIELD_IDS {%s})`, strings.TrimPrefix(old, "file://"), half, strings.TrimPrefix(p, "file://"), strings.Join(ids, ", "))
			if _, err := duck.Exec(q); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		tx := tbl.NewTransaction()
		if err := tx.ReplaceDataFiles(ctx, []string{old}, parts, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		snap := currentSnapshot(t, db, ns, name)
		for _, f := range snap.Files {
			if f.Path == parts[0] {
				return fmt.Sprint(f.Partition)
			}
		}
		t.Fatal("the split file is not in the table")
	}
	t.Fatalf("%s.%s has no data file of two rows or more", ns, name)
	return ""
}
