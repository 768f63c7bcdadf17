package load

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// stageRun stages pages of one table as a run of account north and
// finishes it.
func stageRun(t *testing.T, w *Warehouse, tbl *schema.Table, runID string, pages ...string) Summary {
	t.Helper()
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, runID, KindExport, at); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		stageAs(t, w, tbl, transform.Meta{Account: "north", RunID: runID, ExtractedAt: at}, false, p)
	}
	sum, err := w.Finish(ctx, runID, at, StatusOK, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func statsOf(s Summary, table string) TableStats {
	for _, x := range s.Tables {
		if x.Table == table {
			return x
		}
	}
	return TableStats{}
}

func TestChildLinesAreReplacedWithTheirParent(t *testing.T) {
	w, path := openTemp(t)
	const lines = "mgr.ticket_invoice_lines"
	lineRows := `SELECT string_agg(ticket_invoice_id || '#' || line_no || '=' || name || ':' || total, ' ' ORDER BY ticket_invoice_id, line_no) FROM mgr.ticket_invoice_lines`

	detail := `[{"id":1,"created_date":"2026-03-01T10:00:00Z","amount_total":"30.00","line_items":[{"name":"a","total":"10.00"},{"name":"b","total":"20.00"}],"payments":[{"id":"p1","amount":"30.00"}]},
	            {"id":2,"created_date":"2026-04-01T10:00:00Z","amount_total":"5.00","line_items":[{"name":"c","total":"5.00"}]}]`
	s := stageRun(t, w, mgr.TicketInvoicesTable, "r1", detail)
	if got := statsOf(s, lines); got.Inserted != 3 {
		t.Fatalf("lines stats %+v, want 3 inserted", got)
	}
	if got := one(t, w, lineRows); got != "1#1=a:10.00 1#2=b:20.00 2#1=c:5.00" {
		t.Fatalf("lines = %s", got)
	}

	// A list page (no arrays) changes the header only; the lines stay.
	s = stageRun(t, w, mgr.TicketInvoicesTable, "r2", `[{"id":1,"created_date":"2026-03-01T10:00:00Z","amount_total":"25.00"}]`)
	if got := statsOf(s, lines); got != (TableStats{}) {
		t.Fatalf("list page touched lines: %+v", got)
	}
	if got := one(t, w, lineRows); got != "1#1=a:10.00 1#2=b:20.00 2#1=c:5.00" {
		t.Fatalf("lines after a list page = %s", got)
	}

	// The detail again, one line dropped and one changed; staged twice in
	// one checkpoint, the last version wins whole.
	s = stageRun(t, w, mgr.TicketInvoicesTable, "r3",
		`[{"id":1,"created_date":"2026-03-01T10:00:00Z","line_items":[{"name":"x","total":"1.00"},{"name":"y","total":"2.00"},{"name":"z","total":"3.00"}]}]`,
		`[{"id":1,"created_date":"2026-03-01T10:00:00Z","line_items":[{"name":"a","total":"25.00"}],"payments":[]}]`)
	if got := statsOf(s, lines); got.Updated != 1 || got.Deleted != 1 || got.Inserted != 0 {
		t.Fatalf("lines stats %+v, want 1 updated, 1 deleted", got)
	}
	if got := statsOf(s, "mgr.ticket_invoice_payments"); got.Deleted != 1 {
		t.Fatalf("payments stats %+v, want the payment deleted (empty array)", got)
	}
	if got := one(t, w, lineRows); got != "1#1=a:25.00 2#1=c:5.00" {
		t.Fatalf("lines = %s", got)
	}
	if got := one(t, w, `SELECT rows_deleted FROM meta.run_tables WHERE run_id = 'r3' AND table_name = ?`, lines); got != "1" {
		t.Fatalf("meta.run_tables rows_deleted = %s", got)
	}

	// Child tables publish like their parent, partitioned by its date.
	root := filepath.Join(filepath.Dir(path), "pq")
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(root, "mgr", "ticket_invoice_lines", "account=north", "year=2026", "month=*", "data.parquet")
	if got := one(t, w, `SELECT string_agg(month::VARCHAR || ':' || name, ' ' ORDER BY month) FROM read_parquet('`+glob+`', hive_partitioning = true)`); got != "3:a 4:c" {
		t.Fatalf("lines in Parquet = %s", got)
	}
	if files, _ := filepath.Glob(filepath.Join(root, "mgr", "ticket_invoice_payments", "*", "*", "*", "*.parquet")); len(files) != 0 {
		t.Fatalf("payments files = %v, want the emptied partition removed", files)
	}
}

// A list page of a table with a detail must not erase what the detail
// loaded: re-listing an unchanged invoice leaves it untouched, a changed
// status updates the status and keeps the detail-only columns.
func TestListPagesDoNotEraseDetailColumns(t *testing.T) {
	w, _ := openTemp(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	stage := func(runID string, partial bool, page string) Summary {
		t.Helper()
		if err := w.BeginRun(ctx, runID, KindExport, at); err != nil {
			t.Fatal(err)
		}
		stageAs(t, w, mgr.TicketInvoicesTable, transform.Meta{Account: "north", RunID: runID, ExtractedAt: at}, partial, page)
		s, err := w.Finish(ctx, runID, at, StatusOK, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	row := `SELECT concat_ws('|', status, amount_total, amount_subtotal, amount_paid, _extra) FROM mgr.ticket_invoices WHERE id = '1'`
	list := `[{"id":"1","created_date":"2026-03-01T10:00:00Z","status":"Unpaid","amount_total":"108.88","last_payment_date":{},"seen_on":"list"}]`
	detail := `[{"id":"1","created_date":"2026-03-01T10:00:00Z","status":"Unpaid","amount_total":"108.88","amount_subtotal":"100.00","amount_paid":"0.00","last_payment_date":{},"currency":"USD","line_items":[{"name":"a","total":"100.00"}]}]`

	stage("r1", true, list)
	stage("r2", false, detail)
	want := `Unpaid|108.88|100.00|0.00|{"currency":"USD"}`
	if got := one(t, w, row); got != want {
		t.Fatalf("after the detail: %s, want %s", got, want)
	}
	// The list again: a list-only field (seen_on) joins _extra once, then
	// re-listing changes nothing.
	if st := statsOf(stage("r3", true, list), "mgr.ticket_invoices"); st.Updated != 1 {
		t.Fatalf("list after detail: %+v, want one update (seen_on joins _extra)", st)
	}
	s := stage("r4", true, list)
	if st := statsOf(s, "mgr.ticket_invoices"); st.Unchanged != 1 {
		t.Fatalf("re-listing an unchanged invoice: %+v, want unchanged", st)
	}
	got := one(t, w, row)
	if !strings.HasPrefix(got, "Unpaid|108.88|100.00|0.00|") || !strings.Contains(got, `"currency":"USD"`) || !strings.Contains(got, `"seen_on":"list"`) {
		t.Fatalf("after re-listing: %s; want the detail's columns kept and _extra merged", got)
	}
	// A status change on the list updates the status only.
	s = stage("r5", true, strings.Replace(list, "Unpaid", "Paid", 1))
	if st := statsOf(s, "mgr.ticket_invoices"); st.Updated != 1 {
		t.Fatalf("status change: %+v", st)
	}
	if got := one(t, w, row); !strings.HasPrefix(got, "Paid|108.88|100.00|0.00|") {
		t.Fatalf("after a status change: %s", got)
	}
	if got := one(t, w, `SELECT count(*) FROM mgr.ticket_invoice_lines`); got != "1" {
		t.Fatalf("lines = %s, want the detail's line kept", got)
	}
}

func TestDetailQueue(t *testing.T) {
	w, _ := openTemp(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	commit := func(runID string, notes func()) {
		t.Helper()
		if err := w.BeginRun(ctx, runID, KindExport, at); err != nil {
			t.Fatal(err)
		}
		notes()
		if _, err := w.Finish(ctx, runID, at, StatusOK, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	dueIDs := func() string {
		t.Helper()
		_, due, err := w.DetailState(ctx, "north", "ticketInvoices")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range due {
			ids = append(ids, fmt.Sprintf("%s:%v", d.ID, d.Changed))
		}
		return strings.Join(ids, " ")
	}
	commit("r1", func() {
		w.NoteListed("north", "ticketInvoices", []Listed{{"a", "fa", day(1)}, {"b", "fb", day(3)}, {"c", "fc", day(2)}})
		w.NoteFetched("north", "ticketInvoices", "b", "fb", DetailOK, at)
	})
	if got := dueIDs(); got != "c:false a:false" {
		t.Fatalf("due = %q, want the unfetched ones newest first", got)
	}
	// Noted but not yet checkpointed: the queue is as committed, and a run
	// that dies here (the next BeginRun) forgets the note.
	if err := w.BeginRun(ctx, "r2", KindExport, at); err != nil {
		t.Fatal(err)
	}
	w.NoteFetched("north", "ticketInvoices", "c", "fc", DetailOK, at)
	if got := dueIDs(); got != "c:false a:false" {
		t.Fatalf("due after a crash = %q", got)
	}
	commit("r3", func() {
		w.NoteFetched("north", "ticketInvoices", "c", "fc", DetailOK, at)
		w.NoteFetched("north", "ticketInvoices", "a", "fa", DetailNotFound, at)
		w.NoteListed("north", "ticketInvoices", []Listed{{"b", "fb2", time.Time{}}})
	})
	if got := dueIDs(); got != "b:true" {
		t.Fatalf("due = %q, want b (changed since fetched)", got)
	}
	backlog, err := w.DetailBacklog(ctx)
	if err != nil || len(backlog) != 1 || backlog[0].Due != 1 || backlog[0].Fetched != 3 {
		t.Fatalf("backlog = %+v, %v", backlog, err)
	}
	// A record fetched twice and never listed takes its first fetch's
	// fingerprint as listed; every column as the notes, applied one by
	// one, leave it (a listing without a creation time keeps b's).
	later := at.Add(90 * time.Minute)
	commit("r4", func() {
		w.NoteFetched("north", "ticketInvoices", "d", "fd1", DetailOK, at)
		w.NoteFetched("north", "ticketInvoices", "d", "fd2", DetailOK, later)
	})
	want := strings.Join([]string{
		fmt.Sprintf("a|fa|%d|r1|fa|r3|%d|not_found", day(1).Unix(), at.Unix()),
		fmt.Sprintf("b|fb2|%d|r3|fb|r1|%d|ok", day(3).Unix(), at.Unix()),
		fmt.Sprintf("c|fc|%d|r1|fc|r3|%d|ok", day(2).Unix(), at.Unix()),
		fmt.Sprintf("d|fd1||r4|fd2|r4|%d|ok", later.Unix()),
	}, ";")
	got := one(t, w, `SELECT string_agg(concat_ws('|', id, list_fingerprint, coalesce(CAST(epoch(created_at) AS BIGINT)::VARCHAR, ''), listed_run,
		detail_fingerprint, fetched_run, CAST(epoch(fetched_at) AS BIGINT), outcome), ';' ORDER BY id) FROM meta.details WHERE account = 'north' AND resource = 'ticketInvoices'`)
	if got != want {
		t.Fatalf("meta.details =\n%s\nwant\n%s", got, want)
	}
}

// A warehouse created when line quantities were BIGINT is widened to
// DECIMAL(18,4) by Ensure, so 1.5 hours of labour load exactly.
func TestEnsureWidensQuantities(t *testing.T) {
	w, _ := openTemp(t)
	if _, err := w.Query(ctx, `ALTER TABLE mgr.ticket_invoice_lines ALTER COLUMN quantity TYPE BIGINT`); err != nil {
		t.Fatal(err)
	}
	if err := w.Ensure(ctx, sources.Tables()...); err != nil {
		t.Fatal(err)
	}
	stageRun(t, w, mgr.TicketInvoicesTable, "r1", `[{"id":1,"created_date":"2026-03-01T10:00:00Z","line_items":[{"name":"Labour","quantity":"1.5","price":"40.00","total":"60.00"}]}]`)
	if got := one(t, w, `SELECT typeof(quantity) || ' ' || quantity FROM mgr.ticket_invoice_lines`); got != "DECIMAL(18,4) 1.5000" {
		t.Fatalf("quantity = %s", got)
	}
}

// A run counts each row once: a list page that inserts an invoice and a
// later checkpoint's detail that completes it are one insert; a stored
// invoice changed by both its list row and its detail is one update; one
// listed unchanged and then changed by its detail is one update, not also
// unchanged.
func TestARowCountsOncePerRun(t *testing.T) {
	w, _ := openTemp(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	list := `[{"id":"1","created_date":"2026-03-01T10:00:00Z","status":"Unpaid","amount_total":"108.88"}]`
	detail := `[{"id":"1","created_date":"2026-03-01T10:00:00Z","status":"Unpaid","amount_total":"108.88","amount_subtotal":"100.00","amount_paid":"0.00","line_items":[{"name":"a","total":"100.00"}]}]`
	run := func(runID string, pages ...string) TableStats {
		t.Helper()
		if err := w.BeginRun(ctx, runID, KindExport, at); err != nil {
			t.Fatal(err)
		}
		for i, page := range pages {
			b, err := transform.Page(mgr.TicketInvoicesTable, []byte(page), transform.Meta{Account: "north", RunID: runID, ExtractedAt: at}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				err = w.StagePartial(ctx, "north", b)
			} else {
				err = w.Stage(ctx, "north", b)
			}
			b.Release()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Checkpoint(ctx, runID, at); err != nil { // list and detail in separate checkpoints
				t.Fatal(err)
			}
		}
		s, err := w.Finish(ctx, runID, at, StatusOK, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return statsOf(s, "mgr.ticket_invoices")
	}
	for _, tc := range []struct {
		runID, list, detail                    string
		received, inserted, updated, unchanged int64
	}{
		{"r1", list, detail, 2, 1, 0, 0},
		{"r2", strings.ReplaceAll(list, "Unpaid", "Paid"), strings.ReplaceAll(strings.Replace(detail, `"0.00"`, `"108.88"`, 1), "Unpaid", "Paid"), 2, 0, 1, 0},
		{"r3", strings.ReplaceAll(list, "Unpaid", "Paid"), strings.ReplaceAll(strings.Replace(detail, `"0.00"`, `"108.88"`, 1), "Unpaid", "Paid"), 2, 0, 0, 1},
		// Listed unchanged, then its detail brings a change: one update.
		{"r4", strings.ReplaceAll(list, "Unpaid", "Paid"), strings.ReplaceAll(strings.Replace(detail, `"0.00"`, `"108.87"`, 1), "Unpaid", "Paid"), 2, 0, 1, 0},
	} {
		st := run(tc.runID, tc.list, tc.detail)
		if st.Received != tc.received || st.Inserted != tc.inserted || st.Updated != tc.updated || st.Unchanged != tc.unchanged {
			t.Errorf("%s: received %d inserted %d updated %d unchanged %d; want %d %d %d %d", tc.runID,
				st.Received, st.Inserted, st.Updated, st.Unchanged, tc.received, tc.inserted, tc.updated, tc.unchanged)
		}
	}
	if got := one(t, w, `SELECT concat_ws('|', status, amount_paid, run_id) FROM mgr.ticket_invoices`); got != "Paid|108.87|r4" {
		t.Errorf("stored invoice %s", got)
	}
}
