package load

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/repairshop/export/extract/mgr"
)

// readerEnv points at tools/parquet-reader/read.mjs; `make test` installs
// the reader (hyparquet, from npm) and sets it.
const readerEnv = "PARQUET_READER"

type parquetColumn struct {
	Physical  string `json:"physical"`
	Logical   string `json:"logical"`
	Precision *int   `json:"precision"`
	Scale     *int   `json:"scale"`
	UTC       *bool  `json:"utc"`
	Unit      string `json:"unit"`
}

// readIndependently reads a Parquet file with hyparquet (JavaScript), not
// with DuckDB or any Go code of ours.
func readIndependently(t *testing.T, file string) (map[string]parquetColumn, []map[string]any) {
	t.Helper()
	script := os.Getenv(readerEnv)
	if script == "" {
		t.Skip(readerEnv + " is not set: run `make test`, which installs the independent Parquet reader")
	}
	out, err := exec.Command("node", script, file).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("independent reader on %s: %v\n%s", file, err, stderr)
	}
	var res struct {
		Columns map[string]parquetColumn `json:"columns"`
		Data    []map[string]any         `json:"data"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("independent reader output: %v\n%s", err, out)
	}
	return res.Columns, res.Data
}

func TestIndependentReaderSeesExactValues(t *testing.T) {
	w, path := openTemp(t)
	stageRun(t, w, mgr.TicketInvoicesTable, "r1", `[
	 {"id":"A1","created_date":"2026-03-01T10:00:00-0600","amount_total":259.99,"amount_tax":"0.29","amount_due":"-0.01",
	  "last_payment_date":"2026-03-02T23:59:59.5+01:00",
	  "line_items":[{"name":"Screen","quantity":1,"price":"249.99","total":249.99},{"name":"Huge","price":"99999999999.99","total":"123456789012.34"}]},
	 {"id":"A2","created_date":"2026-03-31T23:30:00-0600","amount_total":"0"}]`)
	root := filepath.Join(filepath.Dir(path), "pq")
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	cols, rows := readIndependently(t, filepath.Join(root, "mgr", "ticket_invoices", "account=north", "year=2026", "month=3", PartitionFile))
	money := cols["amount_total"]
	if money.Logical != "DECIMAL" || money.Precision == nil || *money.Precision != 18 || money.Scale == nil || *money.Scale != 2 {
		t.Errorf("amount_total in Parquet = %+v, want DECIMAL(18,2)", money)
	}
	ts := cols["created_date"]
	if ts.Logical != "TIMESTAMP" || ts.UTC == nil || !*ts.UTC || ts.Unit != "MICROS" {
		t.Errorf("created_date in Parquet = %+v, want a UTC-adjusted TIMESTAMP", ts)
	}
	if _, ok := cols["account"]; ok {
		t.Errorf("account is in the file; it belongs to the Hive path")
	}
	if len(rows) != 1 {
		t.Fatalf("March partition holds %d rows, want 1 (A2 is April in UTC)", len(rows))
	}
	for k, want := range map[string]any{
		"id": "A1", "amount_total": "259.99", "amount_tax": "0.29", "amount_due": "-0.01", "amount_paid": nil,
		"created_date": "2026-03-01T16:00:00.000Z", "last_payment_date": "2026-03-02T22:59:59.500Z",
	} {
		if rows[0][k] != want {
			t.Errorf("%s read back as %#v, want %#v", k, rows[0][k], want)
		}
	}
	_, lines := readIndependently(t, filepath.Join(root, "mgr", "ticket_invoice_lines", "account=north", "year=2026", "month=3", PartitionFile))
	// A file's rows are in no particular order: by line number here.
	slices.SortFunc(lines, func(a, b map[string]any) int {
		return strings.Compare(fmt.Sprint(a["line_no"]), fmt.Sprint(b["line_no"]))
	})
	if len(lines) != 2 || lines[0]["price"] != "249.99" || lines[1]["price"] != "99999999999.99" || lines[1]["total"] != "123456789012.34" || lines[1]["line_no"] != "2" {
		t.Errorf("lines read back = %v", lines)
	}
	_, april := readIndependently(t, filepath.Join(root, "mgr", "ticket_invoices", "account=north", "year=2026", "month=4", PartitionFile))
	if len(april) != 1 || april[0]["amount_total"] != "0.00" || april[0]["created_date"] != "2026-04-01T05:30:00.000Z" {
		t.Errorf("April = %v", april)
	}
}
