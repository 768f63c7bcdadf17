package load

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// BenchmarkDetailPages measures the loader on what dominates a run: one
// document per page (an MGR invoice with lines and payments, a RepairOps
// ticket with timeline, parts, labor and diagnostics), staged and committed
// 20 pages to a checkpoint, as `repairshop-export run` does. Measured here: about 95
// and 55 pages/s. The APIs allow 0.5/s (MGR) and 0.25/s (RepairOps): the
// loader must stay far above them, and above rebuild's needs.
func BenchmarkDetailPages(b *testing.B) {
	for _, tc := range []struct {
		table    *schema.Table
		detail   string // %[1]d is the record's number
		children string // a child table, and its rows per page
		perPage  int
	}{
		{mgr.TicketInvoicesTable, `[{"id":"%[1]d","created_date":"2026-08-03T10:00:00Z","status":"Paid","amount_subtotal":"100.00","amount_tax":"8.88","amount_total":"108.88","amount_paid":"108.88","amount_due":"0.00",
			"line_items":[{"id":"%[1]d-1","name":"Screen","quantity":"1","price":"80.00","total":"80.00"},{"id":"%[1]d-2","name":"Labour","quantity":"0.5","price":"40.00","total":"20.00"}],
			"payments":[{"id":"%[1]d-p","amount":"108.88","method":"Card","date":"2026-08-03T11:00:00Z"}],"ticket":{"ticket_ref":"N-%[1]05d"}}]`,
			"mgr.ticket_invoice_lines", 2},
		{repairops.TicketsTable, roTicket, "repairops.ticket_timeline", 4},
	} {
		b.Run(tc.table.FullName(), func(b *testing.B) {
			w, err := Open(ctx, filepath.Join(b.TempDir(), "w.duckdb"))
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			if err := w.Ensure(ctx, sources.Tables()...); err != nil {
				b.Fatal(err)
			}
			at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
			if err := w.BeginRun(ctx, "bench", KindExport, at); err != nil {
				b.Fatal(err)
			}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				n++
				bt, err := transform.Page(tc.table, []byte(fmt.Sprintf(tc.detail, n)), transform.Meta{Account: "north", RunID: "bench", ExtractedAt: at}, nil)
				if err != nil {
					b.Fatal(err)
				}
				err = w.Stage(ctx, "north", bt)
				bt.Release()
				if err != nil {
					b.Fatal(err)
				}
				if n%20 == 0 {
					if err := w.Checkpoint(ctx, "bench", at); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := w.Checkpoint(ctx, "bench", at); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pages/s")
			if got := one(b, w, `SELECT count(*) FROM `+tc.children); got != fmt.Sprint(tc.perPage*n) {
				b.Fatalf("%s %s rows loaded, want %d", got, tc.children, tc.perPage*n)
			}
		})
	}
}
