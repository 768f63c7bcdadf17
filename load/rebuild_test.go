package load

import (
	"testing"

	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/schema"
)

// A rebuild has DuckDB hand freed memory back after each large free, which
// bounds its RSS over big replayed runs; a replayed run of few rows frees
// little, and its checkpoint runs with DuckDB's default, since handing
// memory back after every statement doubled the time of a rebuild of many
// small nightly runs. The setting is read as each checkpoint commits.
func TestARebuildHandsFreedMemoryBackAfterLargeCheckpointsOnly(t *testing.T) {
	defer func(n int64) { smallReplayRows = n }(smallReplayRows)
	smallReplayRows = 3
	w, _ := openTemp(t)
	setting := func() string {
		t.Helper()
		var v string
		if err := w.conn.QueryRowContext(ctx, `SELECT current_setting('allocator_bulk_deallocation_flush_threshold')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var atCommit []string
	w.SetHook(func(point string) {
		if point == HookBeforeCommit {
			atCommit = append(atCommit, setting())
		}
	})
	before := setting()
	r := newRun(1)
	if err := w.BeginRebuild(ctx, r.id, r.at, []*schema.Table{tiny.JobsTable}, []string{"north"}); err != nil {
		t.Fatal(err)
	}
	rebuilding := setting()
	stagePage(t, w, tiny.JobsTable, r, jobs("New", "New", "New", "New"), nil) // 4 rows: large
	if err := w.Checkpoint(ctx, r.id, r.at); err != nil {
		t.Fatal(err)
	}
	stagePage(t, w, tiny.JobsTable, r, jobs("Done", "Done"), nil) // 2 rows: small
	if err := w.Checkpoint(ctx, r.id, r.at); err != nil {
		t.Fatal(err)
	}
	afterSmall := setting()
	if err := w.EndRebuild(ctx, true); err != nil {
		t.Fatal(err)
	}
	if rebuilding == before {
		t.Fatalf("the rebuild left the threshold at %s", before)
	}
	if len(atCommit) != 2 || atCommit[0] != rebuilding || atCommit[1] != before {
		t.Fatalf("threshold at the large and the small checkpoint's commits = %q, want [%s %s]", atCommit, rebuilding, before)
	}
	if afterSmall != rebuilding || setting() != rebuilding {
		t.Fatalf("threshold after the small checkpoint = %s, at the end %s, want the rebuild's (%s) again", afterSmall, setting(), rebuilding)
	}
	if got := one(t, w, `SELECT string_agg(id || ':' || status, ' ' ORDER BY id) FROM tiny.jobs`); got != "1:Done 2:Done 3:New 4:New" {
		t.Fatalf("rebuilt jobs = %s", got)
	}
}
