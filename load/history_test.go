package load

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// run is one export run in a test: its id says when it started, as a
// real run's does.
type run struct {
	id string
	at time.Time
}

func newRun(day int) run {
	at := time.Date(2026, 11, day, 2, 0, 0, 0, time.UTC)
	return run{id: at.Format(RunIDLayout) + "-test" + fmt.Sprint(day), at: at}
}

// stagePage stages one page of tbl for account north as run r fetched it.
func stagePage(t *testing.T, w *Warehouse, tbl *schema.Table, r run, page string, fixed map[string]string) {
	t.Helper()
	stageAs(t, w, tbl, transform.Meta{Account: "north", RunID: r.id, ExtractedAt: r.at.Add(time.Minute), Fixed: fixed}, false, page)
}

// stageAs transforms a page of tbl with meta and stages it for
// meta.Account: whole, or partial (a list page whose NULL columns keep
// the stored values).
func stageAs(t *testing.T, w *Warehouse, tbl *schema.Table, meta transform.Meta, partial bool, page string) {
	t.Helper()
	b, err := transform.Page(tbl, []byte(page), meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if partial {
		err = w.StagePartial(ctx, meta.Account, b)
	} else {
		err = w.Stage(ctx, meta.Account, b)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func begin(t *testing.T, w *Warehouse, r run) {
	t.Helper()
	if err := w.BeginRun(ctx, r.id, KindExport, r.at); err != nil {
		t.Fatal(err)
	}
}

func finish(t *testing.T, w *Warehouse, r run) Summary {
	t.Helper()
	sum, err := w.Finish(ctx, r.id, r.at.Add(time.Hour), StatusOK, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// jobs is a page of the test source Tiny's jobs, numbered from 1, in
// these statuses ("" leaves that job out of the page).
func jobs(statuses ...string) string {
	recs := make([]string, 0, len(statuses))
	for i, s := range statuses {
		if s != "" {
			recs = append(recs, jobJSON(i+1, "2026-07-16T10:00:00-0600", s))
		}
	}
	return "[" + strings.Join(recs, ",") + "]"
}

// Each run that sees a row change adds one version, valid from the run's
// start to the next version's; a run that changes a row twice (two
// checkpoints) leaves one version, its last.
func TestHistoryKeepsAVersionPerRun(t *testing.T) {
	w, _ := openTemp(t)
	r1, r2, r3 := newRun(1), newRun(2), newRun(3)
	begin(t, w, r1)
	stagePage(t, w, tiny.JobsTable, r1, jobs("New", "New"), nil)
	finish(t, w, r1)

	begin(t, w, r2)
	stagePage(t, w, tiny.JobsTable, r2, jobs("In repair", "New"), nil)
	finish(t, w, r2)

	begin(t, w, r3)
	stagePage(t, w, tiny.JobsTable, r3, jobs("Ready", "New"), nil)
	if err := w.Checkpoint(ctx, r3.id, r3.at); err != nil {
		t.Fatal(err)
	}
	stagePage(t, w, tiny.JobsTable, r3, jobs("Done"), nil)
	finish(t, w, r3)

	got := one(t, w, `SELECT string_agg(id || ':' || status || ':' || strftime(valid_from, '%d') || '-' || coalesce(strftime(valid_to, '%d'), 'now') || ':' || deleted, ' ' ORDER BY id, valid_from) FROM tiny.jobs_history`)
	want := "1:New:01-02:false 1:In repair:02-03:false 1:Done:03-now:false 2:New:01-now:false"
	if got != want {
		t.Errorf("history:\n got %s\nwant %s", got, want)
	}
	// The current versions are the table.
	if n := one(t, w, `SELECT count(*) FROM tiny.jobs t JOIN tiny.jobs_history h ON h.account = t.account AND h.id = t.id AND h.valid_to IS NULL AND h.status = t.status AND h.run_id = t.run_id`); n != "2" {
		t.Errorf("%s current versions match the table, want 2", n)
	}
}

// A complete listing deletes the rows its run did not see (the row stays,
// with deleted_at); a listing cut short deletes nothing; a row seen again
// is live again; a detail's 404 deletes its row. History follows.
func TestDeletes(t *testing.T) {
	w, _ := openTemp(t)
	r1, r2, r3, r4, r5 := newRun(1), newRun(2), newRun(3), newRun(4), newRun(5)

	begin(t, w, r1)
	stagePage(t, w, tiny.JobsTable, r1, jobs("New", "New", "New"), nil)
	w.MarkComplete("north", tiny.JobsTable, nil, r1.id, r1.at.Add(time.Minute))
	if s := statsOf(finish(t, w, r1), "tiny.jobs"); s.Deleted != 0 || s.Inserted != 3 {
		t.Fatalf("run 1: %+v", s)
	}

	begin(t, w, r2) // ticket 2 is gone from the complete listing
	stagePage(t, w, tiny.JobsTable, r2, jobs("New", "", "New"), nil)
	w.MarkComplete("north", tiny.JobsTable, nil, r2.id, r2.at.Add(time.Minute))
	if s := statsOf(finish(t, w, r2), "tiny.jobs"); s.Deleted != 1 {
		t.Fatalf("run 2 deleted %d, want ticket 2", s.Deleted)
	}
	live := `SELECT string_agg(id || '=' || coalesce(strftime(deleted_at, '%d %H:%M'), 'live'), ' ' ORDER BY id) FROM tiny.jobs`
	if got := one(t, w, live); got != "1=live 2=02 02:01 3=live" {
		t.Fatalf("after run 2: %s", got)
	}

	begin(t, w, r3) // cut short: only ticket 1 listed, no completion
	stagePage(t, w, tiny.JobsTable, r3, jobs("New"), nil)
	if s := statsOf(finish(t, w, r3), "tiny.jobs"); s.Deleted != 0 {
		t.Fatalf("a listing cut short deleted %d rows", s.Deleted)
	}

	begin(t, w, r4) // ticket 2 is back; ticket 3's detail answers 404
	stagePage(t, w, tiny.JobsTable, r4, jobs("New", "New", "New"), nil)
	w.MarkComplete("north", tiny.JobsTable, nil, r4.id, r4.at.Add(time.Minute))
	w.MarkGone("north", tiny.JobsTable, "3", r4.id, r4.at.Add(2*time.Minute))
	finish(t, w, r4)
	if got := one(t, w, live); got != "1=live 2=live 3=04 02:02" {
		t.Fatalf("after run 4: %s", got)
	}
	hist := `SELECT string_agg(id || ':' || strftime(valid_from, '%d') || ':' || deleted, ' ' ORDER BY id, valid_from) FROM tiny.jobs_history`
	if got, want := one(t, w, hist), "1:01:false 2:01:false 2:02:true 2:04:false 3:01:false 3:04:true"; got != want {
		t.Fatalf("history:\n got %s\nwant %s", got, want)
	}

	// A complete listing of one custom-field type deletes only that type's
	// rows the run did not see.
	r6 := newRun(6)
	begin(t, w, r5)
	stagePage(t, w, mgr.CustomFieldsTable, r5, `[{"id":1,"name":"Colour"},{"id":2,"name":"PIN"}]`, map[string]string{"type": "tickets"})
	stagePage(t, w, mgr.CustomFieldsTable, r5, `[{"id":1,"name":"VIP"}]`, map[string]string{"type": "customers"})
	finish(t, w, r5)
	begin(t, w, r6)
	stagePage(t, w, mgr.CustomFieldsTable, r6, `[{"id":1,"name":"Colour"}]`, map[string]string{"type": "tickets"})
	w.MarkComplete("north", mgr.CustomFieldsTable, map[string]string{"type": "tickets"}, r6.id, r6.at)
	finish(t, w, r6)
	if got := one(t, w, `SELECT string_agg(type || '/' || id || '=' || (deleted_at IS NULL), ' ' ORDER BY type, id) FROM mgr.custom_fields`); got != "customers/1=true tickets/1=true tickets/2=false" {
		t.Fatalf("custom fields (live=true): %s", got)
	}
}

// A ticket listed by one run whose detail only a later run fetched (the
// first was capped or killed) changed once: the detail completes the
// version the listing wrote, valid from the listing's run. A change the
// listing sees after the detail was fetched is a version of its own. A
// rebuild, replaying the same pages run by run into its shadow tables,
// writes the same versions.
func TestADetailLeftForTheNextRunCompletesItsVersion(t *testing.T) {
	w, _ := openTemp(t)
	tbl := repairops.TicketsTable
	ticket := func(status, updated, labor string) string {
		rec := fmt.Sprintf(`{"id": "t1", "status": %q, "created_at": "2026-07-16T10:00:00Z", "updated_at": %q`, status, updated)
		if labor != "" {
			rec += fmt.Sprintf(`, "labor_cost": %q`, labor)
		}
		return "[" + rec + "}]"
	}
	listed := func(r run, status, updated string) {
		b, err := transform.Page(tbl, []byte(ticket(status, updated, "")), transform.Meta{Account: "north", RunID: r.id, ExtractedAt: r.at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Release()
		if err := w.StagePartial(ctx, "north", b); err != nil {
			t.Fatal(err)
		}
		w.NoteListed("north", "tickets", []Listed{{ID: "t1", Fingerprint: updated}})
	}
	detailed := func(r run, status, updated, labor string) {
		stagePage(t, w, tbl, r, ticket(status, updated, labor), nil)
		w.NoteFetched("north", "tickets", "t1", updated, DetailOK, r.at)
	}
	r1, r2, r3, r4 := newRun(1), newRun(2), newRun(3), newRun(4)
	pages := []struct {
		r     run
		pages func(run)
	}{
		{r1, func(r run) { // listed, then killed before the detail
			listed(r, "OPEN", "2026-11-01T00:00:00Z")
		}},
		{r2, func(r run) { // lists it again, unchanged, and fetches the detail
			listed(r, "OPEN", "2026-11-01T00:00:00Z")
			detailed(r, "OPEN", "2026-11-01T00:00:00Z", "40.00")
		}},
		{r3, func(r run) { // a real change, listed and detailed in one run
			listed(r, "CLOSED", "2026-11-03T00:00:00Z")
			detailed(r, "CLOSED", "2026-11-03T00:00:00Z", "55.00")
		}},
		{r4, func(r run) { // another, its detail left for later
			listed(r, "PICKED_UP", "2026-11-04T00:00:00Z")
		}},
	}
	for i, p := range pages {
		begin(t, w, p.r)
		p.pages(p.r)
		if i == 0 { // killed: its checkpoint committed, the run never finished
			if err := w.Checkpoint(ctx, p.r.id, p.r.at); err != nil {
				t.Fatal(err)
			}
			continue
		}
		finish(t, w, p.r)
	}

	history := `SELECT string_agg(status || ':' || coalesce(labor_cost::VARCHAR, '-') || ':' || strftime(valid_from, '%d') || '-' || coalesce(strftime(valid_to, '%d'), 'now'), ' ' ORDER BY valid_from) FROM repairops.tickets_history`
	want := "OPEN:40.00:01-03 CLOSED:55.00:03-04 PICKED_UP:55.00:04-now"
	if got := one(t, w, history); got != want {
		t.Errorf("history:\n got %s\nwant %s", got, want)
	}

	queue := `SELECT string_agg(concat_ws('|', account, resource, id, list_fingerprint, listed_run, detail_fingerprint, fetched_run, outcome), ' ' ORDER BY account, resource, id) FROM meta.details`
	wantQueue := one(t, w, queue)
	rb := newRun(5)
	if err := w.BeginRebuild(ctx, rb.id, rb.at, []*schema.Table{tbl}, []string{"north"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages { // one checkpoint per archived run, as pipeline.Rebuild replays them
		w.Replaying(p.r.id)
		p.pages(p.r)
		if err := w.Checkpoint(ctx, rb.id, rb.at); err != nil {
			t.Fatal(err)
		}
		if err := w.ForgetSeen(ctx, p.r.id, "north"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EndRebuild(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := one(t, w, history); got != want {
		t.Errorf("history after a rebuild:\n got %s\nwant %s", got, want)
	}
	if got := one(t, w, queue); got != wantQueue {
		t.Errorf("detail queue after a rebuild:\n got %s\nwant %s", got, wantQueue)
	}
}

// Status reads a warehouse whose only runs are rebuilds, with schema
// drift recorded (a field the declarations lack): the drift is listed,
// not new to any export run.
func TestStatusWithDriftAndNoExportRun(t *testing.T) {
	w, _ := openTemp(t)
	r := newRun(1)
	if err := w.BeginRun(ctx, r.id, KindRebuild, r.at); err != nil {
		t.Fatal(err)
	}
	stagePage(t, w, tiny.JobsTable, r, `[{"id":"1","title":"N-1","created_at":"2026-07-16T10:00:00-0600","status":"New","brand_new_field":7}]`, nil)
	finish(t, w, r)
	st, err := w.Status(ctx, 10, "")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if len(st.Drift) != 1 || st.Drift[0].Field != "brand_new_field" || st.Drift[0].New {
		t.Fatalf("drift = %+v, want brand_new_field, not new to an export run", st.Drift)
	}
}

// Status lists the unmapped status labels its query gives; when that
// query fails (a warehouse an older version wrote may lack a table this
// version's parts read), main.tickets' own, as the warehouse has it.
func TestStatusReadsUnmappedLabelsFromItsQueryElseFromTheView(t *testing.T) {
	w, _ := openTemp(t)
	if err := w.exec(ctx, `CREATE VIEW main.tickets AS SELECT * FROM (VALUES
		('mgr', 'north', 'Sent to Apple', false), ('mgr', 'north', 'Sent to Apple', false),
		('mgr', 'north', 'New', true), ('mgr', 'south', 'Hold', false), ('mgr', 'south', NULL, false)) v(source, account, status, status_mapped)`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		want        []UnmappedStatus
	}{
		{"the query", `SELECT 'repairops', 'metro', 'LIMBO', 3`, []UnmappedStatus{{"repairops", "metro", "LIMBO", 3}}},
		{"a query that fails", `SELECT * FROM mgr.no_such_table`, []UnmappedStatus{{"mgr", "north", "Sent to Apple", 2}, {"mgr", "south", "Hold", 1}}},
		{"no query", "", []UnmappedStatus{{"mgr", "north", "Sent to Apple", 2}, {"mgr", "south", "Hold", 1}}},
	} {
		st, err := w.Status(ctx, 10, tc.query)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(st.Unmapped, tc.want) {
			t.Errorf("%s: unmapped %+v, want %+v", tc.name, st.Unmapped, tc.want)
		}
	}
}

// A table larger than a row group takes other paths (replaceRows deletes
// and inserts its changed rows, closeVersions its closed versions): the
// tests of versions, deletes, folds, children and counts give the same
// results on them.
func TestLargeTablesKeepTheSameRowsAndVersions(t *testing.T) {
	defer func(v bool) { largeTables = v }(largeTables)
	largeTables = true
	for name, test := range map[string]func(*testing.T){
		"versions per run":               TestHistoryKeepsAVersionPerRun,
		"deletes":                        TestDeletes,
		"a detail left for the next run": TestADetailLeftForTheNextRunCompletesItsVersion,
		"a fold's fetch time":            TestAFoldKeepsTheFetchTimeOfTheLastChange,
		"child lines":                    TestChildLinesAreReplacedWithTheirParent,
		"list pages and detail columns":  TestListPagesDoNotEraseDetailColumns,
		"counts":                         TestARowCountsOncePerRun,
		"only what changed":              TestACheckpointWritesOnlyWhatChanged,
		"a row seen thrice":              TestARowSeenThriceInARunCountsOnce,
		"idempotent upserts":             TestUpsertIsIdempotent,
	} {
		t.Run(name, test)
	}
}
