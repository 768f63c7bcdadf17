package load

import (
	"path/filepath"
	"testing"
	"time"

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
		b, err := transform.Page(tbl, []byte(p), transform.Meta{Account: "north", RunID: runID, ExtractedAt: at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Stage(ctx, "north", b); err != nil {
			t.Fatal(err)
		}
		b.Release()
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
	s := stageRun(t, w, schema.MGRTicketInvoices, "r1", detail)
	if got := statsOf(s, lines); got.Inserted != 3 {
		t.Fatalf("lines stats %+v, want 3 inserted", got)
	}
	if got := one(t, w, lineRows); got != "1#1=a:10.00 1#2=b:20.00 2#1=c:5.00" {
		t.Fatalf("lines = %s", got)
	}

	// A list page (no arrays) changes the header only; the lines stay.
	s = stageRun(t, w, schema.MGRTicketInvoices, "r2", `[{"id":1,"created_date":"2026-03-01T10:00:00Z","amount_total":"25.00"}]`)
	if got := statsOf(s, lines); got != (TableStats{}) {
		t.Fatalf("list page touched lines: %+v", got)
	}
	if got := one(t, w, lineRows); got != "1#1=a:10.00 1#2=b:20.00 2#1=c:5.00" {
		t.Fatalf("lines after a list page = %s", got)
	}

	// The detail again, one line dropped and one changed; staged twice in
	// one checkpoint, the last version wins whole.
	s = stageRun(t, w, schema.MGRTicketInvoices, "r3",
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
