package load

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/transform"
)

// The Parquet snapshot serves every published table under its warehouse
// name with the same columns, types and rows, including an account whose
// name looks like a number.
func TestParquetSnapshotServesThePublishedTables(t *testing.T) {
	w, path := openTemp(t)
	root := filepath.Join(filepath.Dir(path), "pq")
	loadRun(t, w, "r1", "["+jobJSON(1, "2026-07-16T10:00:00-0600", "New")+","+jobJSON(2, "2026-08-01T10:00:00-0600", "Done")+"]")
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, "r2", KindExport, at); err != nil {
		t.Fatal(err)
	}
	inv := `[{"id":"9","created_date":"2026-08-03T10:00:00Z","status":"Paid","amount_total":"108.88","amount_paid":"108.88","line_items":[{"name":"screen","quantity":"1.5","price":"72.59","total":"108.88"}],"odd":"kept"}]`
	b, err := transform.Page(mgr.TicketInvoicesTable, []byte(inv), transform.Meta{Account: "007", RunID: "r2", ExtractedAt: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Stage(ctx, "007", b)
	b.Release()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(ctx, "r2", at, StatusOK, nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}

	snap, info, err := OpenParquet(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if info.Tables != 5 || info.RunID != "r2" {
		t.Errorf("snapshot %+v; want 5 tables (jobs and invoices with their histories, lines: no payment was loaded) as of r2", info)
	}
	for _, q := range []string{
		`SELECT * FROM tiny.jobs ORDER BY ALL`,
		`SELECT * FROM mgr.ticket_invoices ORDER BY ALL`,
		`SELECT * FROM mgr.ticket_invoice_lines ORDER BY ALL`,
		`SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
			WHERE (table_schema = 'mgr' AND table_name IN ('ticket_invoices', 'ticket_invoice_lines')) OR (table_schema = 'tiny' AND table_name = 'jobs')
			ORDER BY table_schema, table_name, ordinal_position`,
	} {
		want, err := w.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := snap.Query(ctx, q)
		if err != nil {
			t.Fatalf("snapshot: %s: %v", q, err)
		}
		if !reflect.DeepEqual(got, want) || len(want.Rows) == 0 {
			t.Errorf("%s\nsnapshot: %v\nwarehouse: %v", q, got, want)
		}
	}
	if got := one(t, snap, `SELECT account || ' ' || amount_total FROM mgr.ticket_invoices`); got != "007 108.88" {
		t.Errorf("invoice in the snapshot: %s", got)
	}
	if _, err := snap.Query(ctx, `SELECT * FROM meta.runs`); err == nil {
		t.Error("meta.runs answered from the snapshot; it is not published")
	}
	if _, _, err := OpenParquet(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no published tables") {
		t.Errorf("empty root: %v", err)
	}
}

// A table whose partitions were all removed is served empty, typed.
func TestParquetSnapshotEmptyTable(t *testing.T) {
	w, err := open(ctx, "", inMemory)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	m := Manifest{Table: "mgr.brands", Columns: []ManifestColumn{{Name: "account", Type: "VARCHAR"}, {Name: "id", Type: "VARCHAR"}, {Name: "price", Type: "DECIMAL(18,2)"}}}
	if err := w.exec(ctx, manifestView(t.TempDir(), m)...); err != nil {
		t.Fatal(err)
	}
	if got := one(t, w, `SELECT count(*) || ' ' || (SELECT data_type FROM information_schema.columns WHERE column_name = 'price') FROM mgr.brands`); got != "0 DECIMAL(18,2)" {
		t.Errorf("empty table: %s", got)
	}
}

// Column types are spliced into SQL: a manifest whose types are not SQL
// types is refused, not executed.
func TestManifestTypesAreChecked(t *testing.T) {
	dir := t.TempDir()
	for typ, ok := range map[string]bool{"VARCHAR": true, "DECIMAL(18,2)": true, "TIMESTAMP WITH TIME ZONE": true, "JSON": true,
		"VARCHAR); DROP TABLE x; --": false, "varchar": false, "": false} {
		m := `{"table":"mgr.t","columns":[{"name":"id","type":` + strconv.Quote(typ) + `}]}`
		path := filepath.Join(dir, "m.json")
		if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadManifest(path); (err == nil) != ok {
			t.Errorf("type %q: %v", typ, err)
		}
	}
}

func TestBusyIsRecognised(t *testing.T) {
	err := lockHint(errors.New(`IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held in /usr/bin/repairshop-export (PID 42)`))
	if !errors.Is(err, ErrBusy) {
		t.Errorf("%v is not ErrBusy", err)
	}
	if errors.Is(lockHint(errors.New("disk full")), ErrBusy) {
		t.Error("any error is ErrBusy")
	}
}
