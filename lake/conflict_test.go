package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/internal/icebergread"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
)

// lakeHost is a warehouse with one account's rows of a table, and a lake
// publisher of its own, as one host has.
type lakeHost struct {
	w *load.Warehouse
	l *Lake
}

var conflictTarget = Target{Namespace: "shop", Name: "jobs", TimeColumn: "opened_at", Queue: "shop.jobs"}

func newLakeHost(t *testing.T, cfg *config.Config, account string, rows int) lakeHost {
	t.Helper()
	ctx := context.Background()
	w, err := load.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if _, err := w.Query(ctx, fmt.Sprintf(`CREATE SCHEMA shop; CREATE TABLE shop.jobs AS
		SELECT '%s' AS account, i AS id, TIMESTAMPTZ '2026-01-01' + to_days(CAST(i %% 60 AS INTEGER)) AS opened_at,
			CAST(i * 1.25 AS DECIMAL(18,2)) AS total FROM range(%d) t(i)`, account, rows)); err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return lakeHost{w, l}
}

// queue says the host's account changed.
func (h lakeHost) queue(t *testing.T, account string) {
	t.Helper()
	if _, err := h.w.Query(context.Background(), `INSERT INTO meta.lake_queue VALUES ('shop.jobs', ?, 'test') ON CONFLICT DO NOTHING`, account); err != nil {
		t.Fatal(err)
	}
}

// A commit that loses the race to another host's is retried on the
// reloaded table; past the bound it is ErrConflict (a partial run: exit
// 3), the files the attempt wrote are removed, the lake keeps the other
// host's commit whole, and the account stays queued until a publish with
// retries left lands it.
func TestALostCommitIsRetriedThenLeftForTheNextRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := &config.Config{Lake: &config.Lake{Catalog: "sqlite://" + filepath.Join(dir, "lake.db"), Warehouse: "file://" + filepath.Join(dir, "lake")}}
	a, b := newLakeHost(t, cfg, "a", 300), newLakeHost(t, cfg, "b", 200)
	targets := []Target{conflictTarget}
	// b creates the table first: both then load it at the same snapshot.
	b.queue(t, "b")
	if _, err := b.l.Publish(ctx, b.w, targets, "b1"); err != nil {
		t.Fatal(err)
	}
	// Whenever a is about to commit, b commits first (its rows changed).
	races := 0
	a.l.Hook = func(point string) {
		if point != HookBeforeCommit || races == 0 {
			return
		}
		races--
		if _, err := b.w.Query(ctx, `UPDATE shop.jobs SET total = total + 1`); err != nil {
			t.Error(err)
		}
		b.queue(t, "b")
		if _, err := b.l.Publish(ctx, b.w, targets, "b2"); err != nil {
			t.Error(err)
		}
	}
	a.l.Backoff = 0

	// No retry left: a partial run, nothing of a's in the lake or left
	// behind, a still queued.
	a.l.Retries, races = 0, 1
	a.queue(t, "a")
	_, err := a.l.Publish(ctx, a.w, targets, "a1")
	if !errors.Is(err, ErrConflict) || !errors.Is(err, pipeline.ErrPartial) {
		t.Fatalf("a commit that lost its only attempt: %v; want ErrConflict, a partial run", err)
	}
	if q, _ := a.w.LakeQueue(ctx); len(q["shop.jobs"]) != 1 {
		t.Errorf("a's queue after the lost commit: %v; want shop.jobs still queued", q)
	}
	got := lakeRows(t, dir)
	if got["a"] != 0 || got["b"] != 200 {
		t.Errorf("lake rows by account after a's lost commit: %v; want b's 200 only", got)
	}
	if left := unreferencedFiles(t, dir); len(left) > 0 {
		t.Errorf("the lost attempt left %d file(s) no snapshot references, e.g. %s", len(left), left[0])
	}

	// One retry: the next attempt, on the reloaded table, lands.
	a.l.Retries, races = 3, 1
	res, err := a.l.Publish(ctx, a.w, targets, "a2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commits) != 1 || res.Commits[0].Retries != 1 {
		t.Errorf("commits %+v; want one, retried once", res.Commits)
	}
	if got := lakeRows(t, dir); got["a"] != 300 || got["b"] != 200 {
		t.Errorf("lake rows by account: %v; want a=300 b=200", got)
	}
	if q, _ := a.w.LakeQueue(ctx); len(q) != 0 {
		t.Errorf("a's queue after its commit landed: %v", q)
	}
}

// jobsMetadata is shop.jobs's current metadata file, as the catalog's
// row names it.
func jobsMetadata(t *testing.T, dir string) string {
	t.Helper()
	cat, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "lake.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	loc, err := icebergread.MetadataLocation(context.Background(), cat, CatalogName, "shop", "jobs")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// lakeRows counts the lake table's rows per account with the
// independent reader.
func lakeRows(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	snap, err := icebergread.Reader{}.Current(jobsMetadata(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, f := range snap.Files {
		out[fmt.Sprint(f.Partition["account"])] += f.Records
	}
	return out
}

// unreferencedFiles are the data files and manifests under the table's
// folder that its metadata does not reach (metadata.json files aside:
// iceberg-go writes one inside the catalog's commit, which lake maintain
// removes).
func unreferencedFiles(t *testing.T, dir string) []string {
	t.Helper()
	refs, err := icebergread.Reader{}.Referenced(jobsMetadata(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range refs {
		known[strings.TrimPrefix(r, "file://")] = true
	}
	var out []string
	filepath.WalkDir(filepath.Join(dir, "lake"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !known[p] && !strings.HasSuffix(p, ".metadata.json") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
