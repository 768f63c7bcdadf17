package load

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// A row's fetch time and run are those of the last version that changed
// it, whether a run's versions of the row are folded in one checkpoint
// (a rebuild folds a whole archived run) or checkpoint by checkpoint (a
// live run): a version that repeats what the row holds changes nothing.
func TestAFoldKeepsTheFetchTimeOfTheLastChange(t *testing.T) {
	invoiceDetail := `[{"id":"1","created_date":"2026-03-01T10:00:00Z","status":"Unpaid","amount_total":"108.88","amount_subtotal":"100.00","amount_paid":"0.00","last_payment_date":{},"line_items":[]}]`
	invoiceList := func(status string) string {
		return fmt.Sprintf(`[{"id":"1","created_date":"2026-03-01T10:00:00Z","status":%q,"amount_total":"108.88","last_payment_date":{}}]`, status)
	}
	job := func(status string) string { return "[" + jobJSON(1, "2026-07-16T10:00:00-0600", status) + "]" }
	type version struct {
		page    string
		partial bool
		minute  int // the fetch time: minutes past the run's start
	}
	for _, c := range []struct {
		name     string
		table    *schema.Table
		stored   string // a page an earlier run loaded (at minute 0 of its own run), or ""
		versions []version
		want     string // the row's column, and the minute of its fetch time
		column   string
	}{
		{"a repeat keeps the first fetch", tiny.JobsTable, "", []version{{job("New"), false, 1}, {job("New"), false, 2}}, "New 1", "status"},
		{"a change takes its own fetch", tiny.JobsTable, "", []version{{job("New"), false, 1}, {job("Ready"), false, 2}}, "Ready 2", "status"},
		{"a change back takes the last", tiny.JobsTable, "", []version{{job("New"), false, 1}, {job("Ready"), false, 2}, {job("New"), false, 3}}, "New 3", "status"},
		{"repeats of the stored row change nothing", tiny.JobsTable, job("New"), []version{{job("New"), false, 1}, {job("New"), false, 2}}, "New 0", "status"},
		{"a change then a repeat", tiny.JobsTable, job("New"), []version{{job("Ready"), false, 1}, {job("Ready"), false, 2}}, "Ready 1", "status"},
		{"a list page that repeats the detail keeps the detail's fetch", mgr.TicketInvoicesTable, "", []version{{invoiceDetail, false, 1}, {invoiceList("Unpaid"), true, 2}}, "100.00 1", "amount_subtotal"},
		{"a list page that changes the detail takes its own", mgr.TicketInvoicesTable, "", []version{{invoiceDetail, false, 1}, {invoiceList("Paid"), true, 2}}, "100.00 2", "amount_subtotal"},
		{"list pages over a stored detail", mgr.TicketInvoicesTable, invoiceDetail, []version{{invoiceList("Unpaid"), true, 1}, {invoiceList("Paid"), true, 2}, {invoiceList("Paid"), true, 3}}, "100.00 2", "amount_subtotal"},
	} {
		for _, oneCheckpoint := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/one checkpoint %v", c.name, oneCheckpoint), func(t *testing.T) {
				w, _ := openTemp(t)
				if err := w.Ensure(ctx, c.table); err != nil {
					t.Fatal(err)
				}
				stage := func(r run, v version) {
					t.Helper()
					stageAs(t, w, c.table, transform.Meta{Account: "north", RunID: r.id, ExtractedAt: r.at.Add(time.Duration(v.minute) * time.Minute)}, v.partial, v.page)
				}
				r0, r1 := newRun(1), newRun(2)
				if c.stored != "" {
					begin(t, w, r0)
					stage(r0, version{c.stored, false, 0})
					finish(t, w, r0)
				}
				begin(t, w, r1)
				for _, v := range c.versions {
					stage(r1, v)
					if !oneCheckpoint {
						if err := w.Checkpoint(ctx, r1.id, r1.at); err != nil {
							t.Fatal(err)
						}
					}
				}
				finish(t, w, r1)
				got := one(t, w, fmt.Sprintf(`SELECT %s || ' ' || date_diff('minute', strptime(left(run_id, 15), '%%Y%%m%%dT%%H%%M%%S')::TIMESTAMPTZ, extracted_at) FROM %s`, Quote(c.column), quotedName(c.table)))
				if got != c.want {
					t.Errorf("row = %s, want %s", got, c.want)
				}
			})
		}
	}
}

// A checkpoint whose keys were each staged once skips the fold's part of
// the delta statement (onceDeltaSQL): it must give, row for row, what the
// full statement gives on the same staged rows, for inserts, updates and
// repeats, whole and partial, with fields the declarations lack.
func TestADeltaOfKeysStagedOnceEqualsTheFullFold(t *testing.T) {
	w, _ := openTemp(t)
	tbl := mgr.TicketInvoicesTable
	detail := func(id int, status, subtotal, extra string) string {
		return fmt.Sprintf(`{"id":"%d","created_date":"2026-0%d-01T10:00:00Z","status":%q,"amount_total":"108.88","amount_subtotal":%q,"amount_paid":"0.00","last_payment_date":{},"line_items":[]%s}`, id, id, status, subtotal, extra)
	}
	list := func(id int, status, extra string) string {
		return fmt.Sprintf(`{"id":"%d","created_date":"2026-0%d-01T10:00:00Z","status":%q,"amount_total":"108.88","last_payment_date":{}%s}`, id, id, status, extra)
	}
	stage := func(r run, partial bool, recs ...string) {
		t.Helper()
		stageAs(t, w, tbl, transform.Meta{Account: "north", RunID: r.id, ExtractedAt: r.at}, partial, "["+strings.Join(recs, ",")+"]")
	}
	r0, r1 := newRun(1), newRun(2)
	begin(t, w, r0)
	stage(r0, false, detail(1, "Unpaid", "100.00", `,"kept":1`), detail(2, "Unpaid", "100.00", ""), detail(3, "Unpaid", "100.00", ""))
	finish(t, w, r0)
	begin(t, w, r1)
	stage(r1, true, list(1, "Paid", `,"seen_on":"list"`), list(2, "Unpaid", ""), list(4, "Unpaid", `,"new":true`))
	stage(r1, false, detail(3, "Paid", "90.00", ""), detail(5, "Unpaid", "50.00", `,"unknown":{"a":[1,2]}`))
	st := w.staged[tbl.FullName()]
	if err := w.flush(ctx, st); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		once bool
	}{{"d_once", true}, {"d_full", false}} {
		st.delta = c.name
		if _, err := w.execSQL(ctx, deltaSQL(st, w.target(tbl), c.once)); err != nil {
			t.Fatal(err)
		}
	}
	ops := one(t, w, `SELECT string_agg(id || ':' || _op, ' ' ORDER BY id) FROM d_once`)
	if ops != "1:update 2:same 3:update 4:insert 5:insert" {
		t.Fatalf("once: %s, want every kind of row", ops)
	}
	for _, q := range []string{
		`SELECT count(*) FROM (SELECT * FROM d_once EXCEPT ALL SELECT * FROM d_full)`,
		`SELECT count(*) FROM (SELECT * FROM d_full EXCEPT ALL SELECT * FROM d_once)`,
	} {
		if n := one(t, w, q); n != "0" {
			t.Errorf("%s: %s rows differ:\nonce %s\nfull %s", q, n,
				one(t, w, `SELECT string_agg(d::VARCHAR, e'\n' ORDER BY id) FROM d_once d`),
				one(t, w, `SELECT string_agg(d::VARCHAR, e'\n' ORDER BY id) FROM d_full d`))
		}
	}
	if got := one(t, w, `SELECT _extra::VARCHAR FROM d_once WHERE id = '1'`); !strings.Contains(got, `"kept"`) || !strings.Contains(got, `"seen_on"`) {
		t.Errorf("a partial row's _extra = %s, want the stored one patched with the page's", got)
	}
}
