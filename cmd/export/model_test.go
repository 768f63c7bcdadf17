package export

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/model"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/present"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// modelRun stages hand-made pages as one run of the given accounts.
type modelPage struct {
	account string
	table   *schema.Table
	fixed   map[string]string
	body    string
}

func loadModelRun(t *testing.T, w *load.Warehouse, started time.Time, pages ...modelPage) {
	t.Helper()
	runID := started.Format(load.RunIDLayout) + "-test"
	if err := w.BeginRun(ctx, runID, load.KindExport, started); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		b, err := transform.Page(p.table, []byte(p.body), transform.Meta{Account: p.account, RunID: runID, ExtractedAt: started.Add(time.Minute), Fixed: p.fixed}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Rejects) > 0 {
			t.Fatalf("%s rejects %+v", p.table.FullName(), b.Rejects)
		}
		err = w.Stage(ctx, p.account, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(ctx, runID, started.Add(time.Hour), load.StatusOK, nil, ""); err != nil {
		t.Fatal(err)
	}
}

// The conformed model and the KPI queries on hand-made data of both
// sources, whose answers are worked out by hand in the comments: an MGR
// shop in America/Chicago (configured) exported twice, a RepairOps
// organisation in UTC (its default).
func TestConformedModelAndKPIQueries(t *testing.T) {
	t.Parallel()
	w, path := newWarehouse(t)
	if err := w.SetAccounts(ctx, []load.AccountInfo{{Name: "north", Source: "mgr", Timezone: "America/Chicago", Currency: "EUR"}, {Name: "metro", Source: "repairops"}},
		statusRulesFor(map[string]map[string][]string{"north": {"done": {"Picked up by customer"}}})); err != nil {
		t.Fatal(err)
	}
	if err := w.EnsureViews(ctx, pipeline.ConformedViews()); err != nil {
		t.Fatal(err)
	}
	mgrTicket := func(id, created, updated, status, customer, model, tech, invoice string) string {
		return fmt.Sprintf(`{"id":%q,"ticket_ref":"N-%s","created_date":%q,"last_updated":%q,"status":{"label":%q},"customer":{"id":%q},"device":{"brand":"Apple","model":%q},"technician":{"first_name":%q,"last_name":"T"},"invoice":{"id":%q}}`,
			id, id, created, updated, status, customer, model, tech, invoice)
	}
	// Run A, 2026-02-02 08:00 UTC. T1 was done when first seen (last
	// updated Jan 7 10:00 CST: 2 days after it opened); T2 opened Jan 31
	// 23:30 CST (Feb 1 05:30 UTC: January, locally), same customer and
	// device as T1 26 days later (a comeback); T3 waits for parts.
	runA := time.Date(2026, 2, 2, 8, 0, 0, 0, time.UTC)
	tickets := func(t2status, t2updated string) string {
		return "[" + strings.Join([]string{
			mgrTicket("1", "2026-01-05T10:00:00-0600", "2026-01-07T10:00:00-0600", "Completed", "c1", "iPhone 13", "Dana", "i1"),
			mgrTicket("2", "2026-01-31T23:30:00-0600", t2updated, t2status, "c1", "iPhone 13", "Priya", "i2"),
			mgrTicket("3", "2026-01-10T09:00:00-0600", "2026-01-12T09:00:00-0600", "Waiting for Parts", "c2", "Galaxy S23", "Dana", ""),
			// T4 is sent away, a label no rule maps: open, and listed by status.
			mgrTicket("4", "2026-01-25T09:00:00-0600", "2026-01-25T09:00:00-0600", "Sent to Apple", "c2", "iPad", "Dana", ""),
		}, ",") + "]"
	}
	roTicket := func(id, created, status, customer, device, tech string, total, estimate string, timeline ...string) string {
		var tl []string
		for i := 0; i+1 < len(timeline); i += 2 {
			tl = append(tl, fmt.Sprintf(`{"status":%q,"timestamp":%q}`, timeline[i], timeline[i+1]))
		}
		return fmt.Sprintf(`{"id":%q,"number":"T%s","status":%q,"customer":{"id":%q},"device":{"identifier":%q},"assigned_to_name":%q,"total_cost":%s,"created_at":%q,"updated_at":%q,
			"timeline":[%s],"parts":[{"name":"Screen","quantity":1,"unit_cost":80.00,"total":80.00}],"labor":{"hours":1.5,"rate":40.00,"total":60.00},"diagnostics":{"estimated_cost":%s}}`,
			id, id, status, customer, device, tech, total, created, timeline[len(timeline)-1], strings.Join(tl, ","), estimate)
	}
	// R1: 3 days, Alice, 200 against an estimate of 180 (within 10 %);
	// R2: 10 days, Bob, 100 against 150 (50 % off); R3, the same customer
	// and device as R1 17 days later, waits for parts.
	roTickets := "[" + strings.Join([]string{
		roTicket("r1", "2026-01-03T10:00:00Z", "CLOSED", "x", "iPhone 14", "Alice", "200.00", "180.00", "INTAKE", "2026-01-03T10:00:00Z", "IN_REPAIR", "2026-01-04T10:00:00Z", "CLOSED", "2026-01-06T10:00:00Z"),
		roTicket("r2", "2026-01-08T00:00:00Z", "CLOSED", "y", "Pixel 8", "Bob", "100.00", "150.00", "INTAKE", "2026-01-08T00:00:00Z", "CLOSED", "2026-01-18T00:00:00Z"),
		roTicket("r3", "2026-01-20T00:00:00Z", "AWAITING_PARTS", "x", "iPhone 14", "Alice", "0", "90.00", "INTAKE", "2026-01-20T00:00:00Z", "AWAITING_PARTS", "2026-01-21T00:00:00Z"),
	}, ",") + "]"
	common := []modelPage{
		{"north", mgr.CustomersTable, nil, `[{"id":"c1","name":"Ann Lee","created_date":"2025-12-01T10:00:00-0600"},{"id":"c2","name":"Bo Ek","created_date":"2025-12-02T10:00:00-0600"}]`},
		// Products: P1 costs 10 (5 in stock, reorder at 5: low), P2 25.
		{"north", mgr.ProductsTable, nil, `[{"id":"p1","name":"Screen","code":"SCR","stock":5,"reorder_level":5,"prices":{"cost_price":"10.00","retail_price":"30.00"}},{"id":"p2","name":"Battery","code":"BAT","stock":9,"reorder_level":2,"prices":{"cost_price":"25.00","retail_price":"40.00"}}]`},
		// I1 (T1's, Jan 7): 2 × 30 + 1 × 40 = 100, costing 2 × 10 + 25 = 45: margin 0.55.
		{"north", mgr.TicketInvoicesTable, nil, `[{"id":"i1","ticket":{"id":"1"},"created_date":"2026-01-07T10:00:00-0600","amount_total":"100.00","amount_paid":"100.00","amount_due":"0.00",
			"line_items":[{"product":{"id":"p1"},"name":"Screen","quantity":2,"price":"30.00","total":"60.00"},{"product":{"id":"p2"},"name":"Battery","quantity":1,"price":"40.00","total":"40.00"}],
			"payments":[{"amount":"100.00","method":"Cash","date":"2026-01-07T10:00:00-0600"}]}]`},
		// PO1 to Acme: ordered Jan 2, received Jan 6 (4 days), 10 ordered, 8 received.
		{"north", mgr.PurchaseOrdersTable, nil, `[{"id":"po1","supplier":{"name":"Acme"},"created_date":"2026-01-02T09:00:00-0600","received_date":"2026-01-06T09:00:00-0600","amount_total":"300.00","line_items":[{"name":"Screen","quantity_ordered":10,"quantity_received":8,"cost":"30.00","total":"300.00"}]}]`},
		{"metro", repairops.CustomersTable, nil, `[{"id":"x","name":"Xi","created_at":"2025-11-01T00:00:00Z"},{"id":"y","name":"Yu","created_at":"2025-11-02T00:00:00Z"}]`},
		// Item A: 1 on hand, reorder at 3 (low); B: 10, at 2.
		{"metro", repairops.InventoryTable, nil, `[{"id":"a","sku":"A","name":"Screen","quantity_on_hand":1,"reorder_level":3,"cost":40,"selling_price":80},{"id":"b","sku":"B","name":"Cable","quantity_on_hand":10,"reorder_level":2,"cost":2,"selling_price":9}]`},
		// Parts margin 0.40 on 200 and 0.70 on 100: 0.50 weighted.
		{"metro", repairops.KPIDailyTable, map[string]string{"shop_id": "all"}, `[{"date":"2026-01-06","revenue":200,"parts_margin":0.40},{"date":"2026-01-18","revenue":100,"parts_margin":0.70}]`},
	}
	loadModelRun(t, w, runA, append(common,
		modelPage{"north", mgr.TicketsTable, nil, tickets("New", "2026-01-31T23:30:00-0600")},
		modelPage{"metro", repairops.TicketsTable, nil, roTickets})...)
	// Run B, Feb 5 08:00 UTC: T2 is collected (a label mapped by the
	// account's own rule), its invoice raised: observed closing at run B's
	// start, 4.10 days after it opened; it stayed "New" 72 hours.
	runB := time.Date(2026, 2, 5, 8, 0, 0, 0, time.UTC)
	loadModelRun(t, w, runB,
		modelPage{"north", mgr.TicketsTable, nil, tickets("Picked up by customer", "2026-02-04T12:00:00-0600")},
		modelPage{"north", mgr.TicketInvoicesTable, nil, `[{"id":"i2","ticket":{"id":"2"},"created_date":"2026-02-04T12:00:00-0600","amount_total":"50.00","line_items":[],"payments":[]}]`})
	w.Close()

	q := func(args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, append([]string{"query", "--warehouse", path, "--format", "csv"}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d %s", args, code, stderr)
		}
		return out
	}
	jan := []string{"--from", "2026-01-01", "--to", "2026-01-31"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"T2 opened on Jan 31 in Chicago", []string{"--sql", "SELECT id, created_day, closed_day, closed_at_basis, status_group FROM main.tickets WHERE source = 'mgr' ORDER BY id"},
			"id,created_day,closed_day,closed_at_basis,status_group\n1,2026-01-05,2026-01-07,last_updated,done\n2,2026-01-31,2026-02-05,observed,done\n3,2026-01-10,,,waiting\n4,2026-01-25,,,open\n"},
		{"turnaround", []string{"turnaround"},
			"source,account,shop,month,tickets_closed,median_days,p90_days,basis\nmgr,north,north,2026-02,1,4.1,4.1,observed\nmgr,north,north,2026-01,1,2,2,last_updated\nrepairops,metro,metro,2026-01,2,6.5,9.3,timeline\n"},
		{"turnaround of one account", []string{"--account", "metro", "turnaround"},
			"source,account,shop,month,tickets_closed,median_days,p90_days,basis\nrepairops,metro,metro,2026-01,2,6.5,9.3,timeline\n"},
		{"backlog on Jan 31", []string{"--to", "2026-01-31", "backlog"},
			"source,account,shop,status_group,age_days,tickets\nmgr,north,north,open,3-7,1\nmgr,north,north,waiting,15-30,1\nrepairops,metro,metro,waiting,8-14,1\n"},
		{"revenue by technician", append(jan, "revenue_by_technician"),
			"source,account,shop,month,technician,currency,invoices,revenue\nmgr,north,north,2026-01,Dana T,EUR,1,100.00\nrepairops,metro,metro,2026-01,Alice,,1,200.00\nrepairops,metro,metro,2026-01,Bob,,1,100.00\n"},
		{"average ticket value", append(jan, "average_ticket_value"),
			"source,account,shop,month,currency,invoices,revenue,average_value\nmgr,north,north,2026-01,EUR,1,100.00,100.00\nrepairops,metro,metro,2026-01,,2,300.00,150.00\n"},
		{"comebacks", append(jan, "comebacks"),
			"source,account,shop,month,tickets,comebacks,first_time_fix_rate\nmgr,north,north,2026-01,4,1,0.75\nrepairops,metro,metro,2026-01,3,1,0.6667\n"},
		{"parts margin", append(jan, "parts_margin"),
			"source,account,shop,month,sales,cost,margin,basis\nmgr,north,north,2026-01,100.00,45.00,0.55,lines\nrepairops,metro,metro,2026-01,,,0.5,kpi\n"},
		{"supplier spend", append(jan, "supplier_spend"),
			"source,account,supplier,month,orders,spend,quantity_ordered,quantity_received,fill_rate,median_lead_days\nmgr,north,Acme,2026-01,1,300.00,10.0000,8.0000,0.8,4\n"},
		{"low stock", []string{"low_stock"},
			"source,account,shop,sku,name,category,on_hand,reorder_level,cost,price\nrepairops,metro,metro,A,Screen,,1.0000,3.0000,40.00,80.00\nmgr,north,north,SCR,Screen,,5.0000,5.0000,10.00,30.00\n"},
		{"estimate accuracy", append(jan, "estimate_accuracy"),
			"source,account,shop,month,tickets,mean_estimate,mean_total,mean_abs_error_pct,within_10pct\nrepairops,metro,metro,2026-01,2,165.00,150.00,30,0.5\n"},
		{"time in status", []string{"time_in_status"},
			"source,status,status_group,stays,median_hours,mean_hours\nmgr,New,open,1,72,72\nrepairops,IN_REPAIR,open,1,48,48\nrepairops,INTAKE,open,3,24,96\n"},
	} {
		if got := q(tc.args...); got != tc.want {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}

	// Every view carries both sources where both have such records (MGR
	// alone has payments and purchase orders), with one type per column.
	for _, v := range pipeline.ConformedViews() {
		want := "mgr;repairops"
		if v.Name == "payments" || strings.HasPrefix(v.Name, "purchase_order") {
			want = "mgr"
		}
		if got := strings.TrimSpace(strings.Split(q("--sql", fmt.Sprintf("SELECT string_agg(DISTINCT source, ';' ORDER BY source) AS s FROM main.%s", v.Name)), "\n")[1]); got != want {
			t.Errorf("main.%s has sources %q, want %q", v.Name, got, want)
		}
	}
	code, status, stderr := runCLI(t, "status", "--warehouse", path)
	if code != exitOK || !strings.Contains(status, "UNMAPPED STATUSES") || !regexp.MustCompile(`mgr\s+north\s+Sent to Apple\s+1`).MatchString(status) ||
		!regexp.MustCompile(`north\s+mgr\s+America/Chicago\s+config`).MatchString(status) {
		t.Errorf("status (exit %d %s) does not list the unmapped label and the zones:\n%s", code, stderr, status)
	}
	// status counts the unmapped labels from the part, not the view:
	// both must give what main.tickets calls unmapped.
	code, out, stderr := runCLI(t, "status", "--warehouse", path, "--json")
	var rep present.StatusReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil {
		t.Fatalf("status --json: exit %d %v %s", code, err, stderr)
	}
	var unmapped []string
	for _, u := range rep.Unmapped {
		unmapped = append(unmapped, fmt.Sprintf("%s,%s,%s,%d", u.Source, u.Account, u.Status, u.Tickets))
	}
	want := strings.Split(strings.TrimSpace(q("--sql", `SELECT source, account, status, count(*) AS n FROM main.tickets
		WHERE NOT status_mapped AND status IS NOT NULL GROUP BY ALL ORDER BY n DESC, 1, 2, 3`)), "\n")[1:]
	if len(want) == 0 || !slices.Equal(unmapped, want) {
		t.Errorf("status's unmapped labels %q, main.tickets' %q", unmapped, want)
	}
	// The receiver's warning names the newest change the source's own
	// timelines report (status reads it from the part, not the view): the
	// same instant as main.status_changes gives.
	dir := t.TempDir()
	setEnv(t, []string{"TEST_MODEL_RO_KEY=k", "TEST_MODEL_RO_SECRET=s"})
	cfg := writeConfig(t, dir, fmt.Sprintf(`warehouse: %s
state_dir: ./state
accounts:
  - name: metro
    source: repairops
    api_key_env: TEST_MODEL_RO_KEY
    webhook: {path: /hooks/metro, secret_env: TEST_MODEL_RO_SECRET}
`, path))
	code, out, stderr = runCLI(t, "status", "--config", cfg, "--json")
	rep = present.StatusReport{}
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || len(rep.Webhooks) != 1 {
		t.Fatalf("status --json with a webhook: exit %d %v %s%s", code, err, out, stderr)
	}
	newest := strings.Split(strings.TrimSpace(q("--sql", `SELECT strftime(max(changed_at) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') FROM main.status_changes WHERE account = 'metro' AND basis = 'timeline'`)), "\n")[1]
	if w := rep.Webhooks[0].Warning; newest == "" || !strings.Contains(w, "reports status changes up to "+newest+", yet no event came") {
		t.Errorf("the receiver's warning %q does not name the newest timeline change %s", w, newest)
	}
	money := q("--sql", `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'main' AND column_name IN ('total', 'revenue', 'amount', 'unit_price', 'unit_cost', 'cost', 'subtotal', 'tax', 'paid', 'due', 'price') AND data_type <> 'DECIMAL(18,2)'`)
	if money != "table_name,column_name,data_type\n" {
		t.Errorf("money columns that are not DECIMAL(18,2):\n%s", money)
	}
	// A warehouse an older version wrote, lacking a table this version's
	// parts read: the warning comes from the warehouse's own view.
	old, err := load.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`DROP TABLE repairops.ticket_timeline`,
		`CREATE OR REPLACE VIEW main.status_changes AS SELECT 'metro' AS account, TIMESTAMPTZ '2026-03-01 00:00:00+00' AS changed_at, 'timeline' AS basis`} {
		if _, err := old.Query(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	old.Close()
	code, out, stderr = runCLI(t, "status", "--config", cfg, "--json")
	rep = present.StatusReport{}
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || len(rep.Webhooks) != 1 {
		t.Fatalf("status --json of an older warehouse: exit %d %v %s%s", code, err, out, stderr)
	}
	if w := rep.Webhooks[0].Warning; !strings.Contains(w, "reports status changes up to 2026-03-01T00:00:00Z, yet no event came") {
		t.Errorf("the receiver's warning on an older warehouse %q does not name its view's newest change", w)
	}
}

// statusRulesFor is the status rules a config with these accounts' own
// groups gives.
func statusRulesFor(own map[string]map[string][]string) []load.StatusRule {
	var out []load.StatusRule
	for _, r := range model.StatusRules(own) {
		out = append(out, load.StatusRule(r))
	}
	return out
}

// Every source's fragment of the conformed model gives exactly its part's
// columns, by name: a misspelt column would be NULL in the view, unseen.
func TestEveryFragmentGivesItsPartsColumns(t *testing.T) {
	t.Parallel()
	w, _ := newWarehouse(t)
	defer w.Close()
	if err := w.EnsureViews(ctx, pipeline.ConformedViews()); err != nil {
		t.Fatal(err)
	}
	fragments, err := sources.Fragments()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fragments {
		res, err := w.Query(ctx, "SELECT column_name FROM (DESCRIBE "+strings.TrimSpace(f.SQL)+")")
		if err != nil {
			t.Errorf("%s's fragment %s: %v", f.Source, f.Part, err)
			continue
		}
		var got, want []string
		for _, r := range res.Rows {
			got = append(got, r[0])
		}
		p, _ := model.PartNamed(f.Part)
		for _, c := range p.Columns {
			want = append(want, c.Name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s's fragment %s gives columns %v, want %v", f.Source, f.Part, got, want)
		}
	}
}
