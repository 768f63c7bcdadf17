package export

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/present"
	"github.com/repairshop/export/transform"
)

// longCursor is a cursor wider than any terminal.
var longCursor = `{"pass":"listing","offset":12500,"watermark":"2026-11-20T10:11:12.123456Z","run_id":"r1","zz_note":"` + strings.Repeat("x", 200) + `"}`

func TestStatusShowsRunsCursorsRejectsAndDrift(t *testing.T) {
	t.Parallel()
	w, path := newWarehouse(t)
	at := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	run := func(id, page string) {
		t.Helper()
		if err := w.BeginRun(ctx, id, load.KindExport, at); err != nil {
			t.Fatal(err)
		}
		b, err := transform.Page(mgr.TicketsTable, []byte(page), transform.Meta{Account: "north", RunID: id, ExtractedAt: at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Stage(ctx, "north", b); err != nil {
			t.Fatal(err)
		}
		w.SetCursor("north", "tickets", longCursor)
		if _, err := w.Finish(ctx, id, at.Add(90*time.Second), load.StatusOK, []load.AccountResult{{Account: "north", Source: "mgr", Requests: 3, Status: load.StatusOK}}, ""); err != nil {
			t.Fatal(err)
		}
		at = at.Add(24 * time.Hour)
	}
	run("r1", `[{"id":1,"created_date":"2026-01-01T00:00:00Z"},{"id":2,"created_date":"31/02/2026"},{"id":3,"created_date":"bad"}]`)
	// Ticket 2 is fixed at the source: its reject is resolved. Ticket 3 is
	// still bad. A new field appears.
	run("r2", `[{"id":2,"created_date":"2026-01-02T00:00:00Z","loyalty_tier":"gold"},{"id":3,"created_date":"still bad"}]`)
	w.Close()

	lock, err := load.AcquireLock(path, "repairshop-export run", at)
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "status", "--warehouse", path)
	lock.Release()
	if code != exitOK {
		t.Fatalf("status: exit %d %s", code, stderr)
	}
	for _, want := range []string{
		"in use now: `repairshop-export run`",
		"r2   export  ok      2026-11-25 02:00  1m30s  3         1      0        0        1         pending",
		`north    tickets   offset=12500 pass=listing watermark=2026-11-20 10:11 zz_note=xxx`,
		"OPEN REJECTS: 1 record(s)",
		`north    mgr.tickets  3       2      r2        column created_date: "still bad"`,
		"NEW  mgr.tickets  loyalty_tier",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	// It fits a terminal of 120 columns; --json has everything whole.
	for _, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > present.Width {
			t.Errorf("a line of %d characters (want at most %d): %q", n, present.Width, line)
		}
	}
	code, out, stderr = runCLI(t, "status", "--warehouse", path, "--json")
	if code != exitOK {
		t.Fatalf("status --json: exit %d %s", code, stderr)
	}
	var rep present.StatusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	if rep.Running != nil || len(rep.Runs) != 2 || rep.Runs[0].RunID != "r2" || *rep.Runs[0].Requests != 3 || rep.OpenRejects != 1 ||
		len(rep.Cursors) != 1 || rep.Cursors[0].Value != longCursor || len(rep.Drift) != 1 || !rep.Drift[0].New || rep.Rejects[0].Times != 2 {
		t.Errorf("status --json = %+v", rep)
	}
}
