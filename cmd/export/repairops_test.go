package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/pipeline"
)

// roConfig writes and loads a config for the RepairOps simulator's
// organisations with the given extra account lines.
func roConfig(t *testing.T, srv *repairopstest.Server, extra string) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "warehouse: ./w.duckdb\nparquet: ./pq\nstate_dir: ./state\naccounts:\n")
	for _, o := range srv.Orgs {
		name := "TEST_RO_" + strings.ToUpper(o.Name) + "_KEY"
		setEnv(t, []string{name + "=" + o.Key})
		fmt.Fprintf(&b, "  - name: %s\n    source: repairops\n    base_url: %s\n    api_key_env: %s\n%s", o.Name, srv.URL, name, extra)
	}
	path := writeConfig(t, dir, b.String())
	return path, loadTestConfig(t, path)
}

// assertMatchesRepairOps checks the named tables (none: all) of every
// organisation against the simulator: row counts and exact DECIMAL sums.
func assertMatchesRepairOps(t *testing.T, srv *repairopstest.Server, cfg string, tables ...string) {
	t.Helper()
	var checks []tableCheck
	for _, o := range srv.Orgs {
		for name, e := range srv.Expected(o.Name) {
			if len(tables) == 0 || slices.Contains(tables, name) {
				checks = append(checks, tableCheck{o.Name, name, e.Rows, e.Sums})
			}
		}
	}
	assertTables(t, cfg, checks)
}

// detailRequests are the ticket (or customer) ids whose detail was asked
// from logged requests.
func detailRequests(log []repairopstest.Request, org, resource string) []string {
	var ids []string
	for _, r := range log {
		if id, ok := strings.CutPrefix(r.Path, "/v1/"+resource+"/"); ok && r.Org == org && r.Status == 200 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func runRO(t *testing.T, cfg *config.Config, lim pipeline.Limits, clk budget.Clock) (error, string) {
	t.Helper()
	var logs, out strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	_, err := runExport(context.Background(), cfg, lim, clk, log, &out)
	return err, out.String() + logs.String()
}

// A full export lands every table with the simulator's counts and sums, at
// exactly one request per list page, KPI window and detail, without a 429;
// the next day's run after N tickets changed fetches those N details only
// and changes exactly those rows.
func TestRepairOpsFullThenIncremental(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	// A deployment beyond the docs: tickets name their shop (KPIs go per
	// shop) and sort by -updated_at (incremental listings stop early).
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(260, 120),
		repairopstest.WithShopIDs(), repairopstest.WithSortable("created_at", "updated_at"))
	defer srv.Close()
	path, cfg := roConfig(t, srv, "")
	srv.Inject(repairopstest.Fault{BadKPIWindows: 1}) // the first window is asked again in halves
	if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	assertMatchesRepairOps(t, srv, path)
	assertRepairOpsQueries(t, srv, path)
	// Requests: one per list page (all lists fit a 500 page), one per KPI
	// window (25 months per shop, plus the refused one asked again in two
	// halves), one per detail.
	requests, windows := 0, 2
	for _, o := range srv.Orgs {
		if n := srv.Count(o.Name, 429, ""); n != 0 {
			t.Errorf("%s: %d × 429 at default pacing", o.Name, n)
		}
		windows += 25 * len(o.Shops)
		requests += 3 + 25*len(o.Shops) + o.Tickets() + o.Customers()
	}
	if got := len(srv.Log()); got != requests+2 {
		t.Errorf("%d requests; want %d (3 lists per organisation, %d KPI windows, a detail per ticket and customer)", got, requests+2, windows)
	}
	t.Logf("full repairshop-export: %d requests", len(srv.Log()))
	if got := queryCSV(t, path, `SELECT count(DISTINCT shop_id) FROM repairops.kpi_daily WHERE account = 'metro'`); got != "3" {
		t.Errorf("metro KPIs for %s shops, want 3", got)
	}

	// The next day: 5 tickets move on, 2 are opened. The plan, made
	// before, knows the listings and KPI windows but not the changes.
	clk.Advance(24 * time.Hour)
	plans, err := pipeline.Plan(context.Background(), cfg, false, pipeline.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	planned := map[string]int64{}
	for _, p := range plans {
		planned[p.Account] = p.Requests
	}
	before := len(srv.Log())
	changed, err := srv.ChangeTickets("metro", 5, clk.Now().Add(-3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	added, _ := srv.AddTickets("metro", 2, clk.Now().Add(-2*time.Hour))
	if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
		t.Fatalf("incremental run: %v\n%s", err, logs)
	}
	log := srv.Log()[before:]
	want := append(append([]string(nil), changed...), added...)
	sort.Strings(want)
	if got := detailRequests(log, "metro", "tickets"); !slices.Equal(got, want) {
		t.Errorf("incremental run fetched ticket details %v; want exactly the changed and new %v", got, want)
	}
	if got := detailRequests(log, "coast", "tickets"); len(got) != 0 {
		t.Errorf("coast: %d ticket details fetched, nothing changed there", len(got))
	}
	assertMatchesRepairOps(t, srv, path, "repairops.tickets", "repairops.ticket_timeline", "repairops.ticket_parts", "repairops.ticket_labor", "repairops.ticket_diagnostics", "repairops.kpi_daily", "repairops.inventory")
	run2 := queryCSV(t, path, `SELECT run_id FROM meta.runs ORDER BY started_at DESC LIMIT 1`)
	rows := queryCSV(t, path, fmt.Sprintf(`SELECT id FROM repairops.tickets WHERE run_id = '%s' ORDER BY id`, run2))
	if got := strings.Fields(rows); !slices.Equal(got, want) {
		t.Errorf("incremental run changed tickets %v; want exactly %v", got, want)
	}
	for _, o := range srv.Orgs {
		got := int64(0)
		for _, r := range log {
			if r.Org == o.Name {
				got++
			}
		}
		details := int64(len(detailRequests(log, o.Name, "tickets")) + len(detailRequests(log, o.Name, "customers")))
		if got-details != planned[o.Name] {
			t.Errorf("%s: the incremental run spent %d requests (%d details); plan said %d before the changes", o.Name, got, details, planned[o.Name])
		}
	}
	t.Logf("incremental run: %d requests (7 details)", len(log))
}

// A run capped at a few requests exits partial with what is left; the next
// run finishes the queue and the warehouse equals the simulator's data.
func TestRepairOpsCappedRunResumes(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(150))
	defer srv.Close()
	path, cfg := roConfig(t, srv, "    start_date: 2026-01-01\n")
	err, logs := runRO(t, cfg, pipeline.Limits{MaxRequests: 40}, clk)
	if !errors.Is(err, pipeline.ErrPartial) || !strings.Contains(err.Error(), "left for the next run: details tickets") {
		t.Fatalf("capped run: %v\n%s", err, logs)
	}
	if got := srv.Count("metro", 0, ""); got != 40 {
		t.Errorf("capped run sent %d requests, want 40", got)
	}
	clk.Advance(time.Hour)
	if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
		t.Fatalf("second run: %v\n%s", err, logs)
	}
	assertMatchesRepairOps(t, srv, path)
	// The documented tickets name no shop: the organisation's KPIs and the
	// timelines agree as a whole.
	assertRepairOpsQueries(t, srv, path)
	if dup := len(detailRequests(srv.Log(), "metro", "tickets")) - srv.Orgs[0].Tickets(); dup != 0 {
		t.Errorf("%d ticket details fetched twice", dup)
	}
}

// With a small hourly quota each run spends what the hour has left, less
// the reserve, never meets a 429, and says when the quota resets; hourly
// runs converge on the full export.
func TestRepairOpsQuotaSpreadsOverHours(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(150), repairopstest.WithQuota(120, time.Hour))
	defer srv.Close()
	path, cfg := roConfig(t, srv, "    requests_per_hour: 1000\n")
	runs := 0
	for ; runs < 8; runs++ {
		err, logs := runRO(t, cfg, pipeline.Limits{}, clk)
		if err == nil {
			break
		}
		if !errors.Is(err, pipeline.ErrPartial) || !strings.Contains(err.Error(), "hourly quota is spent until") {
			t.Fatalf("run %d: %v\n%s", runs+1, err, logs)
		}
		clk.Advance(time.Hour)
	}
	if runs < 2 || runs == 8 {
		t.Fatalf("%d partial runs; want a few, then a complete one", runs)
	}
	if n := srv.Count("metro", 429, ""); n != 0 {
		t.Errorf("%d × 429", n)
	}
	assertMatchesRepairOps(t, srv, path)
}

// A 429 the export did not cause (another integration spent the quota) is
// waited out to the reset, and the run goes on.
func TestRepairOpsForced429IsWaitedOut(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8*time.Hour + 20*time.Minute))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(60))
	defer srv.Close()
	path, cfg := roConfig(t, srv, "    resources: [inventory, tickets]\n")
	srv.Inject(repairopstest.Fault{RateLimited: 1})
	if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	log := srv.Log()
	if log[0].Status != 429 || log[1].Time.Before(repairopstest.DataEnd().Add(9*time.Hour)) {
		t.Fatalf("first %d at %v, next at %v; want a 429 then a wait to the 09:00 reset", log[0].Status, log[0].Time, log[1].Time)
	}
	if srv.Count("metro", 429, "") != 1 {
		t.Errorf("%d × 429, want the forced one only", srv.Count("metro", 429, ""))
	}
	assertMatchesRepairOps(t, srv, path, "repairops.tickets", "repairops.ticket_timeline", "repairops.ticket_parts", "repairops.inventory")
}

// The API's error envelope reaches the log and the run's error verbatim,
// with the key nowhere; a key without the Read scope is fatal for its
// account and the message says which key and scope to fix.
func TestRepairOpsErrorsReachTheLogVerbatim(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(30))
	defer srv.Close()
	_, cfg := roConfig(t, srv, "    resources: [inventory]\n")
	srv.Inject(repairopstest.Fault{ServerErrors: 20})
	err, logs := runRO(t, cfg, pipeline.Limits{}, clk)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500 SERVER_ERROR: Internal server error; contact support (details: {\"request_id\":") {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(logs, "SERVER_ERROR: Internal server error; contact support") || strings.Contains(logs, srv.Orgs[0].Key) {
		t.Errorf("log lacks the envelope or shows the key:\n%s", logs)
	}

	setEnv(t, []string{"TEST_RO_METRO_KEY=" + srv.Orgs[0].Keys["webhooks"]})
	err, logs = runRO(t, cfg, pipeline.Limits{}, clk)
	if err == nil || !strings.Contains(err.Error(), "account metro") || !strings.Contains(err.Error(), "HTTP 403 FORBIDDEN") ||
		!strings.Contains(err.Error(), "api_key_env") || !strings.Contains(err.Error(), "Read scope") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(logs, srv.Orgs[0].Keys["webhooks"]) || strings.Contains(err.Error(), srv.Orgs[0].Keys["webhooks"]) {
		t.Error("the key is printed")
	}
}

// The docs show only sort=-created_at. A deployment that refuses
// sort=-updated_at (400) or ignores it must not make incremental runs stop
// early on a listing that is not newest-change-first: they read the whole
// list (three pages of 50 here) and still fetch exactly the changed
// details.
func TestRepairOpsWithoutTheSort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opt     repairopstest.Option
		refused int // 400s per listing
	}{
		{"sort refused", repairopstest.WithSortable("created_at"), 1},
		{"sort ignored", repairopstest.WithSortable(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
			srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(120), tc.opt)
			defer srv.Close()
			path, cfg := roConfig(t, srv, "    resources: [tickets]\n    page_size: 50\n")
			if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
				t.Fatalf("run: %v\n%s", err, logs)
			}
			clk.Advance(24 * time.Hour)
			before := len(srv.Log())
			changed, err := srv.ChangeTickets("metro", 2, clk.Now().Add(-3*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			err, logs := runRO(t, cfg, pipeline.Limits{}, clk)
			if err != nil {
				t.Fatalf("incremental run: %v\n%s", err, logs)
			}
			log := srv.Log()[before:]
			lists, refused := 0, 0
			for _, r := range log {
				if r.Path == "/v1/tickets" {
					lists++
					if r.Status == 400 {
						refused++
					}
				}
			}
			if lists-refused != 3 || refused != tc.refused {
				t.Errorf("incremental run listed tickets in %d pages with %d refused; want the whole list (3 pages) and %d refused", lists-refused, refused, tc.refused)
			}
			sort.Strings(changed)
			if got := detailRequests(log, "metro", "tickets"); !slices.Equal(got, changed) {
				t.Errorf("fetched ticket details %v; want exactly the changed %v", got, changed)
			}
			assertMatchesRepairOps(t, srv, path, "repairops.tickets", "repairops.ticket_timeline", "repairops.ticket_parts")
			if tc.refused > 0 && !strings.Contains(logs, "refused the sort") {
				t.Errorf("the fallback is not logged:\n%s", logs)
			}
		})
	}
}

// One broken part of the API costs only itself: with /inventory missing
// (404) and one ticket's detail failing (500 after the retries), the run
// loads everything else, exits failed naming both, and the next run, the
// API mended, fetches what is missing.
func TestRepairOpsOneBrokenPartDoesNotStopTheRest(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(60))
	defer srv.Close()
	path, cfg := roConfig(t, srv, "")
	bad := srv.Orgs[0].TicketIDs()[7]
	srv.Break("/inventory", 404)
	srv.Break("/tickets/"+bad, 500)
	err, logs := runRO(t, cfg, pipeline.Limits{}, clk)
	if err == nil || exitCode(err) != exitFailure || !strings.Contains(err.Error(), "listing inventory") || !strings.Contains(err.Error(), "details of tickets "+bad) {
		t.Fatalf("run with broken parts: exit %d, %v; want a failure naming inventory and ticket %s\n%s", exitCode(err), err, bad, logs)
	}
	assertMatchesRepairOps(t, srv, path, "repairops.customers", "repairops.customer_repairs", "repairops.kpi_daily")
	want := srv.Expected("metro")["repairops.tickets"].Rows
	if got := queryCSV(t, path, `SELECT count(*) FROM repairops.tickets`); got != fmt.Sprint(want) {
		t.Errorf("tickets: %s rows, want all %d listed", got, want)
	}
	if got := queryCSV(t, path, fmt.Sprintf(`SELECT count(*) FROM repairops.tickets t WHERE id <> '%s' AND NOT EXISTS (SELECT 1 FROM repairops.ticket_timeline l WHERE l.ticket_id = t.id)`, bad)); got != "0" {
		t.Errorf("%s tickets other than the broken one lack their detail", got)
	}

	srv.Break("/inventory", 0)
	srv.Break("/tickets/"+bad, 0)
	clk.Advance(time.Hour)
	before := len(srv.Log())
	if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
		t.Fatalf("run after mending: %v\n%s", err, logs)
	}
	if got := detailRequests(srv.Log()[before:], "metro", "tickets"); !slices.Equal(got, []string{bad}) {
		t.Errorf("the next run fetched ticket details %v; want only the one that failed, %s", got, bad)
	}
	assertMatchesRepairOps(t, srv, path)
}

// KPI refusals that are not about the dates are not split and not
// repeated: with /kpis answering 400 "invalid parameters" (a deployment
// that wants other parameters), each shop costs one request, the rest of
// the account loads, and the run ends partial naming the gaps; with the
// endpoint failing 500, a shop stops after three windows. The next run,
// the API mended, loads the whole history.
func TestRepairOpsKPIRefusalsAreNotRepeated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status  int
		perShop int // KPI requests per shop
	}{
		{400, 1},
		{500, pipeline.MaxFailureStreak * 5}, // each window: a request and 4 retries
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
			// Tickets that name their shops: KPIs are asked per shop.
			srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(40), repairopstest.WithShopIDs())
			defer srv.Close()
			path, cfg := roConfig(t, srv, "")
			srv.Break("/kpis", tc.status)
			err, logs := runRO(t, cfg, pipeline.Limits{}, clk)
			if exitCode(err) != exitPartial || !strings.Contains(err.Error(), "KPI window(s) failed") || !strings.Contains(err.Error(), "not asked after those failures") {
				t.Fatalf("run: exit %d, %v; want partial naming the KPI gaps\n%s", exitCode(err), err, logs)
			}
			shops := len(srv.Orgs[0].Shops)
			if got := srv.Count("metro", 0, "/v1/kpis"); got != tc.perShop*shops {
				t.Errorf("%d KPI requests for %d shops; want %d each", got, shops, tc.perShop)
			}
			assertMatchesRepairOps(t, srv, path, "repairops.tickets", "repairops.ticket_parts", "repairops.customers", "repairops.inventory")

			srv.Break("/kpis", 0)
			clk.Advance(time.Hour)
			if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
				t.Fatalf("run after mending: %v\n%s", err, logs)
			}
			assertMatchesRepairOps(t, srv, path)
		})
	}
}
