package load

import (
	"fmt"
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
					b, err := transform.Page(c.table, []byte(v.page), transform.Meta{Account: "north", RunID: r.id, ExtractedAt: r.at.Add(time.Duration(v.minute) * time.Minute)}, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer b.Release()
					if v.partial {
						err = w.StagePartial(ctx, "north", b)
					} else {
						err = w.Stage(ctx, "north", b)
					}
					if err != nil {
						t.Fatal(err)
					}
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
