package load

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/transform"
)

// A checkpoint runs only the statements its rows need: a page of
// unchanged rows is classified and counted but writes no row, version or
// Parquet partition, and an empty page creates no staging table. New
// rows are inserted without the upsert's conflict check. A changed row
// is still written with its version. (Most tables of an
// incremental run are one or the other: the statements they skip were
// half an incremental run's SQL.)
func TestACheckpointWritesOnlyWhatChanged(t *testing.T) {
	var trace bytes.Buffer
	old := traceOut
	traceOut = &trace
	t.Cleanup(func() { traceOut = old })
	t.Setenv(SQLTraceEnv, "0s")
	w, _ := openTemp(t)
	empty := sources.Tables()[0]
	if empty.IsChild() || empty == tiny.JobsTable {
		t.Fatalf("%s: want a top-level table other than tiny's", empty.FullName())
	}
	night := func(day int, statuses ...string) (Summary, []string) {
		t.Helper()
		trace.Reset()
		r := newRun(day)
		begin(t, w, r)
		meta := transform.Meta{Account: "north", RunID: r.id, ExtractedAt: r.at.Add(time.Minute)}
		stageAs(t, w, tiny.JobsTable, meta, false, jobs(statuses...))
		stageAs(t, w, empty, meta, false, "[]")
		sum := finish(t, w, r)
		return sum, strings.Split(trace.String(), "\n")
	}
	writes := func(lines []string) (out []string) {
		for _, l := range lines {
			for _, stmt := range []string{`INSERT OR REPLACE INTO "tiny"."jobs" `, `INSERT INTO "tiny"."jobs" `, `INSERT OR REPLACE INTO "tiny"."jobs_history" `, `INSERT INTO "tiny"."jobs_history" `, `UPDATE "tiny"."jobs_history" `, `INSERT INTO meta.publish_queue SELECT DISTINCT 'tiny.jobs'`, `INSERT INTO meta.publish_queue SELECT DISTINCT 'tiny.jobs_history'`} {
				if strings.Contains(l, "ms  "+stmt) {
					out = append(out, stmt)
				}
			}
		}
		return out
	}
	staging := func(lines []string) (n int) {
		for _, l := range lines {
			if strings.Contains(l, `TEMP TABLE "stage_`+empty.Source+`_`+empty.Name) {
				n++
			}
		}
		return n
	}

	sum, lines := night(1, "open", "open", "done")
	if got := sum.Totals(); got.Inserted != 3 || len(writes(lines)) == 0 {
		t.Fatalf("first night: %+v, writes %v; want 3 inserted and written", got, writes(lines))
	}
	// New rows only: inserted as they are, with no conflict to resolve,
	// no version to close and no old partition to queue.
	for _, l := range lines {
		for _, slow := range []string{`INSERT OR REPLACE INTO "tiny"."jobs"`, `UPDATE "tiny"."jobs_history"`, `INSERT INTO meta.publish_queue SELECT DISTINCT 'tiny.jobs_history', d.account, d._oy`} {
			if strings.Contains(l, "ms  "+slow) {
				t.Errorf("new rows went through %s", slow)
			}
		}
	}
	sum, lines = night(2, "open", "open", "done")
	if got := sum.Totals(); got.Received != 3 || got.Unchanged != 3 || got.Inserted+got.Updated != 0 {
		t.Errorf("the same page again: %+v; want 3 received and unchanged", got)
	}
	if got := writes(lines); len(got) != 0 {
		t.Errorf("unchanged rows were written: %v\n%s", got, strings.Join(lines, "\n"))
	}
	if n := staging(lines); n != 0 {
		t.Errorf("an empty page of %s created %d staging tables", empty.FullName(), n)
	}
	sum, lines = night(3, "open", "done", "done")
	if got := sum.Totals(); got.Updated != 1 || got.Unchanged != 2 {
		t.Errorf("one job changed: %+v; want 1 updated, 2 unchanged", got)
	}
	if got := strings.Join(writes(lines), ","); !strings.Contains(got, `INTO "tiny"."jobs" `) || !strings.Contains(got, `INTO "tiny"."jobs_history" `) || !strings.Contains(got, "'tiny.jobs'") {
		t.Errorf("a changed row: writes %s; want the row, its version and its partition", got)
	}
	if got := one(t, w, `SELECT count(*) FROM tiny.jobs_history WHERE id = '2'`); got != "2" {
		t.Errorf("job 2 has %s versions, want 2", got)
	}
}

// A row staged in three checkpoints of one run counts once, under its
// strongest operation: unchanged, unchanged again, then changed is one
// update. (The run's count of a row is kept in the table's run table of
// counted keys; a row it already holds is replaced there, not added
// twice.)
func TestARowSeenThriceInARunCountsOnce(t *testing.T) {
	w, _ := openTemp(t)
	first := newRun(1)
	begin(t, w, first)
	stagePage(t, w, tiny.JobsTable, first, jobs("open", "open"), nil)
	finish(t, w, first)

	r := newRun(2)
	begin(t, w, r)
	for _, page := range []string{jobs("open", "open"), jobs("open", "open"), jobs("open", "done")} {
		stagePage(t, w, tiny.JobsTable, r, page, nil)
		if err := w.Checkpoint(ctx, r.id, r.at); err != nil {
			t.Fatal(err)
		}
	}
	got := finish(t, w, r).Totals()
	if got.Received != 6 || got.Inserted != 0 || got.Updated != 1 || got.Unchanged != 1 {
		t.Errorf("received %d, inserted %d, updated %d, unchanged %d; want 6, 0, 1, 1", got.Received, got.Inserted, got.Updated, got.Unchanged)
	}
}
