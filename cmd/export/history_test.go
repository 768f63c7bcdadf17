package export

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/pipeline"
)

// Against the MGR simulator: a ticket moved through statuses across three
// runs has three versions, valid one run to the next, and closed when the
// first run saw it done; a ticket deleted in
// the shop is marked deleted by the next complete listing, never by one
// cut short or resumed; an invoice whose detail answers 404 is marked
// deleted; the run log counts the deletes.
func TestMGRHistoryAndDeletes(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(120, 60))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets", "ticketInvoices")
	setEnv(t, env)
	run := func(want int, args ...string) {
		t.Helper()
		if code, out, stderr := runCLI(t, append([]string{"run", "--config", cfg}, args...)...); code != want {
			t.Fatalf("run: exit %d, want %d\n%s%s", code, want, out, stderr)
		}
	}
	q := func(sql string) string { t.Helper(); return queryCSV(t, cfg, sql) }
	north := srv.Shop("north")
	ids := north.TicketIDs()
	moved, deleted := ids[3], ids[10]

	run(exitOK)
	// No timezone configured: the shop's days are those of the offset its
	// timestamps carry.
	_, off := time.Now().In(north.Zone).Zone()
	if got, want := q(`SELECT timezone || ' / ' || timezone_basis FROM meta.accounts WHERE account = 'north'`), fmt.Sprintf("UTC%+03d:00 / offset of the source's timestamps", off/3600); got != want {
		t.Errorf("north's zone: %q, want %q", got, want)
	}
	for _, label := range []string{"In Progress", "Collected"} {
		if err := srv.SetTicketStatus("north", moved, label, time.Now()); err != nil {
			t.Fatal(err)
		}
		run(exitOK)
	}
	runs := strings.Split(q(`SELECT string_agg(run_id, ';' ORDER BY started_at) FROM meta.runs`), ";")
	starts := strings.Split(q(`SELECT string_agg(strftime(started_at, '%Y-%m-%d %H:%M:%S.%g'), ';' ORDER BY started_at) FROM meta.runs`), ";")
	got := q(fmt.Sprintf(`SELECT string_agg(status_label || '|' || run_id || '|' || strftime(valid_from, '%%Y-%%m-%%d %%H:%%M:%%S.%%g') || '|' || coalesce(strftime(valid_to, '%%Y-%%m-%%d %%H:%%M:%%S.%%g'), 'current'), ';' ORDER BY valid_from)
		FROM mgr.tickets_history WHERE account = 'north' AND id = '%s'`, moved))
	versions := strings.Split(got, ";")
	if len(versions) != 3 {
		t.Fatalf("ticket %s has %d versions, want 3: %s", moved, len(versions), got)
	}
	for i, v := range versions {
		f := strings.Split(v, "|")
		next := "current"
		if i < 2 {
			next = starts[i+1]
		}
		if f[1] != runs[i] || f[2] != starts[i] || f[3] != next {
			t.Errorf("version %d = %s; want run %s, valid from %s to %s", i+1, v, runs[i], starts[i], next)
		}
	}
	if !strings.HasPrefix(versions[1], "In Progress|") || !strings.HasPrefix(versions[2], "Collected|") {
		t.Errorf("versions %v, want In Progress then Collected", versions)
	}
	// MGR gives no transition times: the ticket closed when the first run
	// saw it done (Collected is done by the default rules).
	closed := q(fmt.Sprintf(`SELECT status_group || '|' || closed_at_basis || '|' || strftime(closed_at, '%%Y-%%m-%%d %%H:%%M:%%S.%%g')
		FROM main.tickets WHERE source = 'mgr' AND account = 'north' AND id = '%s'`, moved))
	if want := "done|observed|" + starts[2]; closed != want {
		t.Errorf("closed: %s, want %s", closed, want)
	}
	if n := q(`SELECT count(*) FROM mgr.tickets_history WHERE valid_to IS NULL`); n != q(`SELECT count(*) FROM mgr.tickets`) {
		t.Errorf("%s current versions for %s tickets", n, q(`SELECT count(*) FROM mgr.tickets`))
	}

	if err := srv.Delete("north", "tickets", deleted); err != nil {
		t.Fatal(err)
	}
	isDeleted := fmt.Sprintf(`SELECT deleted_at IS NOT NULL FROM mgr.tickets WHERE account = 'north' AND id = '%s'`, deleted)
	run(exitPartial, "--max-requests", "2") // the listing is cut short after two pages
	if q(isDeleted) != "false" {
		t.Fatal("a listing cut short marked a ticket deleted")
	}
	if c := q(`SELECT value FROM meta.cursors WHERE account = 'north' AND resource = 'tickets'`); !strings.Contains(c, `in_progress`) || strings.Contains(c, `"next_offset":48`) {
		t.Fatalf("cursor after the cut-short run: %s; want a listing two pages in", c)
	}
	run(exitOK) // resumes the listing where it stopped: not a complete one
	if q(isDeleted) != "false" {
		t.Fatal("a resumed listing marked a ticket deleted")
	}
	run(exitOK) // lists from the start to the end
	if q(isDeleted) != "true" {
		t.Fatal("a complete listing without the ticket did not mark it deleted")
	}
	if got := q(fmt.Sprintf(`SELECT string_agg(deleted::VARCHAR, ';' ORDER BY valid_from) FROM mgr.tickets_history WHERE account = 'north' AND id = '%s'`, deleted)); got != "false;true" {
		t.Errorf("history of the deleted ticket: %s, want its version then its deletion", got)
	}
	last := `(SELECT run_id FROM meta.runs ORDER BY started_at DESC LIMIT 1)`
	if got := q(`SELECT string_agg(account || ' ' || table_name || ' ' || rows_deleted, ';') FROM meta.run_tables WHERE rows_deleted > 0 AND run_id = ` + last); got != "north mgr.tickets 1" {
		t.Errorf("the run's deletes: %q, want north's one ticket", got)
	}
	if n := q(`SELECT count(*) FROM mgr.tickets WHERE deleted_at IS NOT NULL`); n != "1" {
		t.Errorf("%s tickets deleted, want 1", n)
	}

	// An invoice whose detail (due again after a payment) answers 404.
	inv := north.OpenInvoices()[0]
	if err := srv.AddPayment("north", inv, 100, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv.Break("/ticketInvoices/"+inv, 404)
	run(exitOK)
	if got := q(fmt.Sprintf(`SELECT deleted_at IS NOT NULL FROM mgr.ticket_invoices WHERE account = 'north' AND id = '%s'`, inv)); got != "true" {
		t.Errorf("an invoice whose detail answers 404 is not marked deleted (%s)", got)
	}
}

// Against the RepairOps simulator: inventory is listed in full every run,
// so a deleted item is marked at the next run; tickets and customers are
// listed incrementally, so their deletes show at the next full pass
// (ticket_full_pass_days, customer_full_pass_days: 7 by default), not
// before.
func TestRepairOpsDeletes(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(80, 40),
		repairopstest.WithShopIDs(), repairopstest.WithSortable("created_at", "updated_at"))
	defer srv.Close()
	// Pages of 20: an incremental ticket listing stops pages before the
	// old ticket deleted (one page holding every ticket would be a
	// complete listing, incremental or not).
	path, cfg := roConfig(t, srv, "    resources: [inventory, tickets, customers]\n    page_size: 20\n")
	run := func() {
		t.Helper()
		if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
			t.Fatalf("run: %v\n%s", err, logs)
		}
	}
	run()
	org := srv.Orgs[0]
	item, ticket, customer := org.InventoryIDs()[0], org.TicketIDs()[5], org.CustomerIDs()[5]
	for _, d := range [][2]string{{"inventory", item}, {"tickets", ticket}, {"customers", customer}} {
		if err := srv.Delete(org.Name, d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	deleted := func() string {
		t.Helper()
		return queryCSV(t, path, fmt.Sprintf(`SELECT (SELECT count(*) FROM repairops.inventory WHERE deleted_at IS NOT NULL AND id = '%s') || '/' ||
			(SELECT count(*) FROM repairops.tickets WHERE deleted_at IS NOT NULL AND id = '%s') || '/' ||
			(SELECT count(*) FROM repairops.customers WHERE deleted_at IS NOT NULL AND id = '%s') || '/' ||
			(SELECT count(*) FROM repairops.inventory WHERE deleted_at IS NOT NULL) + (SELECT count(*) FROM repairops.tickets WHERE deleted_at IS NOT NULL) + (SELECT count(*) FROM repairops.customers WHERE deleted_at IS NOT NULL)`, item, ticket, customer))
	}
	clk.Advance(24 * time.Hour)
	run()
	if got := deleted(); got != "1/0/0/1" {
		t.Fatalf("after an incremental run: item/ticket/customer deleted %s, want the item only (1/0/0, 1 in all)", got)
	}
	clk.Advance(7 * 24 * time.Hour)
	run()
	if got := deleted(); got != "1/1/1/3" {
		t.Fatalf("after the weekly full passes: item/ticket/customer deleted %s, want all three and nothing else", got)
	}
	// A rebuild from the raw archive (its bulk path: keyless shadows, a
	// fold per archived run) gives exactly what the runs' checkpoints gave,
	// versions and deletes included.
	before := fullSnapshot(t, filepath.Dir(path))
	if code, out, stderr := runCLI(t, "rebuild", "--config", path); code != exitOK {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out, stderr)
	}
	if after := fullSnapshot(t, filepath.Dir(path)); after != before {
		t.Fatalf("the rebuild differs from the runs:\nruns:\n%s\nrebuild:\n%s", before, after)
	}
}
