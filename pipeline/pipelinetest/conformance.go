// Package pipelinetest is the warehouse half of the suite every source
// passes (extracttest.Conformance is the extract half): the engine runs
// one of the source's simulated accounts into a real warehouse, and the
// warehouse must hold what the simulator holds.
package pipelinetest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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

// tables are the tables of the resources keep takes, each once.
func (c suite) tables(keep func(extract.Resource) bool) []string {
	var out []string
	for _, r := range c.src.Resources {
		if n := r.Table.FullName(); keep(r) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func every(extract.Resource) bool        { return true }
func withIDs(r extract.Resource) bool    { return r.Table.ColumnIndex("id") >= 0 }
func withDetail(r extract.Resource) bool { return r.Detail }

// counts runs one "SELECT key, count FROM …" per table and adds the counts
// up by key.
func (w *world) counts(t *testing.T, tables []string, sql string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range tables {
		for _, r := range w.query(t, fmt.Sprintf(sql, table)) {
			var n int
			fmt.Sscan(r[1], &n)
			out[r[0]] += n
		}
	}
	return out
}

// matches checks that every resource table holds the simulator's count of
// live records.
func (c suite) matches(t *testing.T, w *world) {
	t.Helper()
	want := w.sim.Rows(w.sim.Accounts[0].Name)
	for _, table := range c.tables(every) {
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
	for _, table := range c.tables(withDetail) {
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
	gone := w.counts(t, c.tables(withIDs), "SELECT CAST(id AS VARCHAR), count(*) FROM %s WHERE deleted_at IS NOT NULL GROUP BY 1")
	live := w.counts(t, c.tables(withIDs), "SELECT CAST(id AS VARCHAR), count(*) FROM %s WHERE deleted_at IS NULL GROUP BY 1")
	for _, id := range deleted {
		if gone[id] == 0 {
			t.Errorf("record %s was deleted at the source and is not marked deleted", id)
		}
	}
	for _, id := range added {
		if live[id] == 0 {
			t.Errorf("record %s was added at the source and is not in the warehouse", id)
		}
	}
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
	var histories []string
	for _, r := range c.src.Resources {
		if h := r.Table.HistoryTable; h != nil && h.ColumnIndex("id") >= 0 && !slices.Contains(histories, h.FullName()) {
			histories = append(histories, h.FullName())
		}
	}
	versions := map[string]int{}
	for _, h := range histories { // the most versions of the id in any one history
		for id, n := range w.counts(t, []string{h}, "SELECT CAST(id AS VARCHAR), count(*) FROM %s GROUP BY 1") {
			versions[id] = max(versions[id], n)
		}
	}
	for _, id := range changed {
		if versions[id] < 2 {
			t.Errorf("record %s changed at the source: %d version(s) in its history, want 2", id, versions[id])
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
