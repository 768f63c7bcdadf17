// Package pipelinetest is the warehouse half of the suite every source
// passes (extracttest.Conformance is the extract half): the engine runs
// one of the source's simulated accounts into a real warehouse, and the
// warehouse must hold what the simulator holds.
package pipelinetest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/extracttest"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
)

// Conformance runs the engine on the source's first simulated account (a
// fresh simulator from start, in simulated time, at its documented
// limits) and checks the warehouse:
//
//   - after a first run, every resource's table holds exactly the
//     simulator's records, and each record of a resource with a detail
//     endpoint had its detail fetched once;
//   - records deleted at the source are marked deleted (kept, with
//     deleted_at) once the next run has listed them complete, and records
//     added are there;
//   - a record changed at the source gets a new version in its table's
//     history;
//   - a run stopped at a crash point (the context cancelled there: after
//     a page is archived, inside a checkpoint's transaction) leaves a
//     warehouse the next run completes. (Real kills at every crash point
//     are cmd/export's TestKillAnywhereConverges, per source.)
func Conformance(t *testing.T, src *extract.Source, start func(t *testing.T, clk *budget.Fake) *extracttest.Sim) {
	t.Helper()
	c := suite{src: src, start: start}
	t.Run("the warehouse holds the simulator's records", c.holds)
	t.Run("deletes and new records after a complete listing", c.deletes)
	t.Run("a changed record gets a new version", c.versions)
	for _, point := range []string{pipeline.HookArchived, load.HookBeforeCommit} {
		t.Run("stopped at "+point, func(t *testing.T) { c.stopped(t, point) })
	}
}

type suite struct {
	src   *extract.Source
	start func(t *testing.T, clk *budget.Fake) *extracttest.Sim
}

type world struct {
	sim *extracttest.Sim
	clk *budget.Fake
	cfg *config.Config
}

func (c suite) world(t *testing.T) *world {
	t.Helper()
	clk := budget.NewFake(extracttest.Epoch)
	s := c.start(t, clk)
	t.Cleanup(s.Close)
	dir := t.TempDir()
	a := s.Accounts[0]
	text := fmt.Sprintf("warehouse: %s\nparquet: %s\nstate_dir: %s\naccounts:\n  - {name: %s, source: %s, base_url: %q, api_key_env: CONFORMANCE_KEY}\n",
		filepath.Join(dir, "w.duckdb"), filepath.Join(dir, "pq"), filepath.Join(dir, "state"), a.Name, c.src.Name, s.URL)
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(string) string { return a.Key }
	return &world{sim: s, clk: clk, cfg: cfg}
}

// run runs the engine once; hook, if set, is called at the crash points.
func (w *world) run(ctx context.Context, t *testing.T, hook func(string)) (pipeline.Report, error) {
	t.Helper()
	rep, err := pipeline.Run(ctx, w.cfg, pipeline.Options{Clock: w.clk, Hook: hook})
	w.clk.Advance(time.Hour)
	return rep, err
}

// query runs SQL on the warehouse.
func (w *world) query(t *testing.T, sql string) [][]string {
	t.Helper()
	wh, err := load.OpenReadOnly(context.Background(), w.cfg.Warehouse)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	res, err := wh.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res.Rows
}

// tables are the resources' own tables (each resource's records).
func (c suite) tables() []string {
	var out []string
	for _, r := range c.src.Resources {
		if n := r.Table.FullName(); !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// byID are the resource tables whose records have an id.
func (c suite) byID() []string {
	var out []string
	for _, r := range c.src.Resources {
		if n := r.Table.FullName(); r.Table.ColumnIndex("id") >= 0 && !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// matches checks that every resource table holds the simulator's count of
// live records.
func (c suite) matches(t *testing.T, w *world) {
	t.Helper()
	want := w.sim.Rows(w.sim.Accounts[0].Name)
	for _, table := range c.tables() {
		n, ok := want[table]
		if !ok {
			continue
		}
		got := w.query(t, fmt.Sprintf("SELECT count(*) FROM %s WHERE deleted_at IS NULL", table))[0][0]
		if got != fmt.Sprint(n) {
			t.Errorf("%s: %s live rows, the simulator holds %d", table, got, n)
		}
	}
}

func (c suite) holds(t *testing.T) {
	t.Parallel()
	w := c.world(t)
	if rep, err := w.run(context.Background(), t, nil); err != nil || rep.Summary.Status != load.StatusOK {
		t.Fatalf("run: %v %s", err, rep.Summary.Status)
	}
	c.matches(t, w)
	// Each record of a resource with a detail endpoint had its detail
	// fetched once: none twice, none left out.
	if w.sim.Details == nil {
		return
	}
	details := w.sim.Details(w.sim.Accounts[0].Name)
	want := 0
	rows := w.sim.Rows(w.sim.Accounts[0].Name)
	for _, table := range c.detailTables() {
		want += rows[table]
	}
	for key, n := range details {
		if n != 1 {
			t.Errorf("detail %s fetched %d times, want once", key, n)
		}
	}
	if len(details) != want {
		t.Errorf("%d details fetched, the simulator holds %d records with a detail", len(details), want)
	}
}

// detailTables are the tables of the resources fetched record by record.
func (c suite) detailTables() []string {
	var out []string
	for _, r := range c.src.Resources {
		if n := r.Table.FullName(); r.Detail && !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (c suite) deletes(t *testing.T) {
	t.Parallel()
	w := c.world(t)
	if _, err := w.run(context.Background(), t, nil); err != nil {
		t.Fatal(err)
	}
	added, deleted := w.sim.Churn(w.sim.Accounts[0].Name)
	for range 2 { // the churn's own faults may leave the first listing short
		if _, err := w.run(context.Background(), t, nil); err != nil {
			t.Fatal(err)
		}
	}
	c.matches(t, w)
	for _, id := range deleted {
		if n := w.anywhere(t, c, id, "deleted_at IS NOT NULL"); n == 0 {
			t.Errorf("record %s was deleted at the source and is not marked deleted", id)
		}
	}
	for _, id := range added {
		if n := w.anywhere(t, c, id, "deleted_at IS NULL"); n == 0 {
			t.Errorf("record %s was added at the source and is not in the warehouse", id)
		}
	}
}

// anywhere counts the rows of the resource tables with this id that meet
// the condition.
func (w *world) anywhere(t *testing.T, c suite, id, cond string) int {
	t.Helper()
	n := 0
	for _, table := range c.byID() {
		rows := w.query(t, fmt.Sprintf("SELECT count(*) FROM %s WHERE CAST(id AS VARCHAR) = '%s' AND %s", table, strings.ReplaceAll(id, "'", "''"), cond))
		var k int
		fmt.Sscan(rows[0][0], &k)
		n += k
	}
	return n
}

func (c suite) versions(t *testing.T) {
	t.Parallel()
	w := c.world(t)
	if _, err := w.run(context.Background(), t, nil); err != nil {
		t.Fatal(err)
	}
	changed := w.sim.Change(w.sim.Accounts[0].Name)
	if _, err := w.run(context.Background(), t, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range changed {
		versions := 0
		for _, r := range c.src.Resources {
			h := r.Table.HistoryTable
			if h == nil || h.ColumnIndex("id") < 0 {
				continue
			}
			var k int
			fmt.Sscan(w.query(t, fmt.Sprintf("SELECT count(*) FROM %s WHERE CAST(id AS VARCHAR) = '%s'", h.FullName(), id))[0][0], &k)
			versions = max(versions, k)
		}
		if versions < 2 {
			t.Errorf("record %s changed at the source: %d version(s) in its history, want 2", id, versions)
		}
	}
}

func (c suite) stopped(t *testing.T, point string) {
	t.Parallel()
	w := c.world(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hit := false
	w.run(ctx, t, func(p string) {
		if p == point && !hit {
			hit = true
			cancel()
		}
	})
	if !hit {
		t.Skipf("the run never reached %s", point)
	}
	if rep, err := w.run(context.Background(), t, nil); err != nil || rep.Summary.Status != load.StatusOK {
		t.Fatalf("the run after: %v %s", err, rep.Summary.Status)
	}
	c.matches(t, w)
}
