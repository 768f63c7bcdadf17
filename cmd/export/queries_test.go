package export

import (
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/model"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// newWarehouse creates a warehouse file with every declared table.
func newWarehouse(t *testing.T) (*load.Warehouse, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := load.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Ensure(ctx, sources.Tables()...); err != nil {
		w.Close()
		t.Fatal(err)
	}
	return w, path
}

// shipped is a shipped query's SQL, ready to wrap as a subquery.
func shipped(t *testing.T, name string) string {
	t.Helper()
	q, err := sources.Query(name)
	if err != nil {
		t.Fatal(err)
	}
	return "(" + strings.TrimSuffix(strings.TrimSpace(q.SQL), ";") + "\n)"
}

// addDecimals adds decimal strings exactly, with two places.
func addDecimals(t *testing.T, xs ...string) string {
	t.Helper()
	sum := new(big.Rat)
	for _, x := range xs {
		r, ok := new(big.Rat).SetString(x)
		if !ok {
			t.Fatalf("%q is not a decimal", x)
		}
		sum.Add(sum, r)
	}
	return sum.FloatString(2)
}

// stageAndFinish stages hand-made pages of account north as run r1 (begun
// by the caller), finishes the run and closes the warehouse.
func stageAndFinish(t *testing.T, w *load.Warehouse, now time.Time, pages map[*schema.Table]string) {
	t.Helper()
	for tb, page := range pages {
		b, err := transform.Page(tb, []byte(page), transform.Meta{Account: "north", RunID: "r1", ExtractedAt: now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Stage(ctx, "north", b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(ctx, "r1", now, load.StatusOK, nil, ""); err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// assertMGRQueries checks the shipped MGR queries against the simulator's
// books, shop by shop: every invoice, cent and payment is in them once.
func assertMGRQueries(t *testing.T, srv *mgrtest.Server, cfg string) {
	t.Helper()
	for _, sh := range srv.Shops {
		exp := sh.Expected()
		ti, pi := exp["mgr.ticket_invoices"], exp["mgr.pos_invoices"]
		tp, pp := exp["mgr.ticket_invoice_payments"], exp["mgr.pos_invoice_payments"]
		for _, c := range []struct{ query, sel, want string }{
			{"sales_by_month", "sum(invoices), sum(total), sum(tax), sum(paid), sum(due)", fmt.Sprintf("%d,%s,%s,%s,%s", ti.Rows+pi.Rows,
				addDecimals(t, ti.Sums["amount_total"], pi.Sums["amount_total"]), addDecimals(t, ti.Sums["amount_tax"], pi.Sums["amount_tax"]),
				addDecimals(t, ti.Sums["amount_paid"], pi.Sums["amount_paid"]), addDecimals(t, ti.Sums["amount_due"], pi.Sums["amount_due"]))},
			{"receivables", "coalesce(sum(due), 0)", addDecimals(t, ti.Sums["amount_due"], pi.Sums["amount_due"])},
			{"payments_by_method", "sum(payments), sum(amount)", fmt.Sprintf("%d,%s", tp.Rows+pp.Rows, addDecimals(t, tp.Sums["amount"], pp.Sums["amount"]))},
			{"invoice_checks", "count(*)", "0"},
		} {
			got := queryCSV(t, cfg, fmt.Sprintf("SELECT %s FROM %s WHERE account = '%s'", c.sel, shipped(t, c.query), sh.Name))
			if got != c.want {
				t.Errorf("%s %s: %s = %s; the simulator's books say %s", sh.Name, c.query, c.sel, got, c.want)
			}
		}
	}
}

// assertRepairOpsQueries checks the shipped RepairOps queries against the
// simulator: the KPI months add up to its KPIs, and the tickets the
// timelines show closed are the KPIs' throughput, with the same turnaround.
func assertRepairOpsQueries(t *testing.T, srv *repairopstest.Server, cfg string) {
	t.Helper()
	for _, o := range srv.Orgs {
		k := srv.Expected(o.Name)["repairops.kpi_daily"]
		for _, c := range []struct{ query, sel, want string }{
			{"repairops_kpis_by_month", "sum(days), sum(revenue), sum(throughput)", fmt.Sprintf("%d,%s,%s", k.Rows, k.Sums["revenue"], k.Sums["throughput"])},
			{"repairops_turnaround", "sum(tickets_closed)", k.Sums["throughput"]},
		} {
			got := queryCSV(t, cfg, fmt.Sprintf("SELECT %s FROM %s WHERE account = '%s'", c.sel, shipped(t, c.query), o.Name))
			if got != c.want {
				t.Errorf("%s %s: %s = %s; the simulator says %s", o.Name, c.query, c.sel, got, c.want)
			}
		}
		// Month by month, the closings and turnaround from the timelines
		// are the KPIs' (the KPIs' daily averages are rounded: 0.02 days).
		disagree := fmt.Sprintf(`FROM %s k FULL JOIN %s c USING (account, shop_id, month)
			WHERE account = '%s' AND (coalesce(k.throughput, 0) <> coalesce(c.tickets_closed, 0) OR abs(k.avg_turnaround_days - c.mean_days) > 0.02)`,
			shipped(t, "repairops_kpis_by_month"), shipped(t, "repairops_turnaround"), o.Name)
		if n := queryCSV(t, cfg, "SELECT count(*) "+disagree); n != "0" {
			t.Errorf("%s: %s months where the timelines and the KPIs disagree on closings or turnaround:\n%s", o.Name, n, queryCSV(t, cfg, "SELECT * "+disagree))
		}
	}
}

// The shipped MGR queries on hand-made invoices: invoice_checks names
// exactly what disagrees, receivables ages what is due, payments without a
// method are kept.
func TestShippedQueriesOnKnownInvoices(t *testing.T) {
	t.Parallel()
	w, path := newWarehouse(t)
	now := time.Now().UTC()
	day := func(ago int) string { return now.AddDate(0, 0, -ago).Format(time.RFC3339) }
	ticket := fmt.Sprintf(`[
		{"id":"1","created_date":%q,"amount_subtotal":"100.00","amount_tax":"10.00","amount_total":"110.00","amount_paid":"110.00","amount_due":"0.00","payments":[{"amount":"60.00","method":"Cash","date":%q},{"amount":"50.00","date":%q}]},
		{"id":"2","created_date":%q,"amount_subtotal":"100.00","amount_tax":"10.00","amount_total":"111.00","amount_paid":"20.00","amount_due":"91.00","payments":[{"amount":"10.00","method":"Card","date":%q}]},
		{"id":"3","created_date":%q,"amount_subtotal":"50.00","amount_tax":"5.00","amount_total":"55.00","amount_paid":"0.00","amount_due":"55.00","payments":[]}]`,
		day(5), day(5), day(4), day(45), day(44), day(120))
	pos := fmt.Sprintf(`[{"id":"1","created_date":%q,"amount_subtotal":"20.00","amount_tax":"2.00","amount_total":"22.00","amount_paid":"22.00","amount_due":"0.00","payments":[{"amount":"22.00","method":"Cash","date":%q}]}]`, day(1), day(1))
	if err := w.BeginRun(ctx, "r1", load.KindExport, now); err != nil {
		t.Fatal(err)
	}
	stageAndFinish(t, w, now, map[*schema.Table]string{mgr.TicketInvoicesTable: ticket, mgr.POSInvoicesTable: pos})

	query := func(name string) string {
		t.Helper()
		code, out, stderr := runCLI(t, "query", "--warehouse", path, "--format", "csv", name)
		if code != exitOK {
			t.Fatalf("%s: exit %d %s", name, code, stderr)
		}
		return out
	}
	checks := query("invoice_checks")
	if strings.Count(checks, "\n") != 2 || !strings.Contains(checks, "ticket,north,2,") ||
		!strings.Contains(checks, "total is not subtotal + tax - discount; paid is not the sum of the payments") || strings.Contains(checks, "due is not") {
		t.Errorf("invoice_checks:\n%s\nwant invoice 2 only, its total and its payments", checks)
	}
	if got, want := query("receivables"), "account,age,invoices,due,oldest\nnorth,31-60,1,91.00,"; !strings.HasPrefix(got, want) || !strings.Contains(got, "\nnorth,over 90,1,55.00,") || strings.Count(got, "\n") != 3 {
		t.Errorf("receivables:\n%s\nwant 91.00 at 31-60 days and 55.00 over 90", got)
	}
	code, byMethod, stderr := runCLI(t, "query", "--warehouse", path, "--format", "csv", "--sql",
		"SELECT method, sum(payments), sum(amount) FROM "+shipped(t, "payments_by_method")+" GROUP BY method ORDER BY method")
	if want := "method,sum(payments),sum(amount)\n(none),1,50.00\nCard,1,10.00\nCash,2,82.00\n"; code != exitOK || byMethod != want {
		t.Errorf("payments_by_method by method: exit %d %s\n%s\nwant\n%s", code, stderr, byMethod, want)
	}
}

// The headline query on hand-made books, as of 2026-03-10 against
// 2026-02-10: revenue month to date against the same days of February,
// the backlog on each day, the median turnaround of the tickets closed in
// each span, and what was due on each day (February's from the payments
// made by then). The expected figures are worked out by hand below.
func TestHeadlineOnKnownBooks(t *testing.T) {
	t.Parallel()
	w, path := newWarehouse(t)
	now := time.Date(2026, 3, 12, 12, 0, 0, 0, time.UTC)
	invoices := `[
		{"id":"A","created_date":"2026-03-02T10:00:00Z","amount_total":"100.00","amount_paid":"0.00","amount_due":"100.00","payments":[]},
		{"id":"B","created_date":"2026-02-05T10:00:00Z","amount_total":"50.00","amount_paid":"50.00","amount_due":"0.00",
		 "payments":[{"amount":"30.00","date":"2026-02-08T10:00:00Z"},{"amount":"20.00","date":"2026-02-20T10:00:00Z"}]},
		{"id":"C","created_date":"2026-02-15T10:00:00Z","amount_total":"70.00","amount_paid":"0.00","amount_due":"70.00","payments":[]},
		{"id":"D","created_date":"2026-03-11T10:00:00Z","amount_total":"999.00","amount_paid":"0.00","amount_due":"999.00","payments":[]}]`
	tickets := `[
		{"id":"1","createdDate":"2026-01-20T00:00:00Z","lastUpdated":"2026-03-05T00:00:00Z","status":{"label":"Collected"}},
		{"id":"2","createdDate":"2026-02-01T00:00:00Z","lastUpdated":"2026-02-01T00:00:00Z","status":{"label":"In repair"}},
		{"id":"3","createdDate":"2026-03-01T00:00:00Z","lastUpdated":"2026-03-01T00:00:00Z","status":{"label":"Waiting for parts"}},
		{"id":"4","createdDate":"2026-01-05T00:00:00Z","lastUpdated":"2026-01-06T00:00:00Z","status":{"label":"Cancelled"}},
		{"id":"5","createdDate":"2026-01-01T00:00:00Z","lastUpdated":"2026-02-03T00:00:00Z","status":{"label":"Collected"}}]`
	if err := w.BeginRun(ctx, "r1", load.KindExport, now); err != nil {
		t.Fatal(err)
	}
	var rules []load.StatusRule
	for _, r := range model.StatusRules(nil) {
		rules = append(rules, load.StatusRule{Account: r.Account, Label: r.Label, Group: r.Group})
	}
	if err := w.SetAccounts(ctx, []load.AccountInfo{{Name: "north", Source: "mgr", Timezone: "UTC", Currency: "EUR"}}, rules); err != nil {
		t.Fatal(err)
	}
	if err := w.EnsureViews(ctx, pipeline.ConformedViews()); err != nil {
		t.Fatal(err)
	}
	stageAndFinish(t, w, now, map[*schema.Table]string{mgr.TicketInvoicesTable: invoices, mgr.TicketsTable: tickets})

	code, out, stderr := runCLI(t, "query", "--warehouse", path, "--format", "csv", "--to", "2026-03-10", "headline")
	if code != exitOK {
		t.Fatalf("headline: exit %d %s", code, stderr)
	}
	want := `account,metric,currency,current,previous,change,change_pct,as_of,previous_as_of
,revenue,EUR,100.00,50.00,50.00,100.0,2026-03-10,2026-02-10
,open_backlog,,2.00,2.00,0.00,0.0,2026-03-10,2026-02-10
,median_turnaround_days,,44.00,33.00,11.00,33.3,2026-03-10,2026-02-10
,receivables_due,EUR,170.00,20.00,150.00,750.0,2026-03-10,2026-02-10
north,revenue,EUR,100.00,50.00,50.00,100.0,2026-03-10,2026-02-10
north,open_backlog,,2.00,2.00,0.00,0.0,2026-03-10,2026-02-10
north,median_turnaround_days,,44.00,33.00,11.00,33.3,2026-03-10,2026-02-10
north,receivables_due,EUR,170.00,20.00,150.00,750.0,2026-03-10,2026-02-10
`
	if out != want {
		t.Errorf("headline as of 2026-03-10:\n%s\nwant (worked out by hand)\n%s", out, want)
	}
}
