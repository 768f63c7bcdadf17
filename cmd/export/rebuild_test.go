package export

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/schema"
)

// fullSnapshot renders every row of every declared table, bookkeeping
// columns included, the detail queue, and what the Parquet files hold: a
// rebuild must reproduce even the run ids and fetch times.
func fullSnapshot(t *testing.T, dir string) string {
	t.Helper()
	return snapshotWithout(t, dir)
}

// provenance are the columns that say which run saw a row, and when.
var provenance = []string{schema.ColRunID, schema.ColExtractedAt, schema.ColValidFrom, schema.ColValidTo}

// snapshotWithout is fullSnapshot without the columns named.
func snapshotWithout(t *testing.T, dir string, omit ...string) string {
	t.Helper()
	w, err := load.OpenReadOnly(ctx, filepath.Join(dir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var b strings.Builder
	for _, tb := range schema.WithHistory(sources.Tables()...) {
		var cols []string
		for _, c := range tb.Columns {
			if !slices.Contains(omit, c.Name) {
				cols = append(cols, load.Quote(c.Name)+"::VARCHAR")
			}
		}
		res, err := w.Query(ctx, fmt.Sprintf(`SELECT count(*), md5(coalesce(string_agg(concat_ws('|', %s), ';' ORDER BY %s), '')) FROM %s.%s`,
			strings.Join(cols, ", "), strings.Join(tb.Key, ", "), tb.Source, tb.Name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %v\n", tb.FullName(), res.Rows[0])
	}
	// The detail queue: what each record was listed and fetched as, and by
	// which run (the next run's due details, and a rebuild's versions,
	// follow from it).
	queueCols := "account, resource, id, list_fingerprint, detail_fingerprint, outcome, listed_run, fetched_run, fetched_at"
	if len(omit) > 0 {
		queueCols = "account, resource, id, list_fingerprint, detail_fingerprint, outcome"
	}
	res, err := w.Query(ctx, fmt.Sprintf(`SELECT count(*), md5(coalesce(string_agg(concat_ws('|', %s), ';' ORDER BY account, resource, id), '')) FROM meta.details`, queueCols))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "meta.details %v\n", res.Rows[0])
	pqCols := "id, run_id, extracted_at, deleted_at"
	if len(omit) > 0 {
		pqCols = "id, deleted_at"
	}
	res, err = w.Query(ctx, fmt.Sprintf(`SELECT count(*), md5(string_agg(concat_ws('|', %s), ';' ORDER BY account, id)) FROM read_parquet('%s', hive_partitioning = true)`,
		pqCols, filepath.Join(dir, "pq", "*", "tickets", "*", "*", "*", "*.parquet")))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "parquet %v\n", res.Rows[0])
	return b.String()
}

// lineDiff lists the lines of got and want that differ, one pair a line.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := range max(len(g), len(w)) {
		var x, y string
		if i < len(g) {
			x = g[i]
		}
		if i < len(w) {
			y = w[i]
		}
		if x != y {
			fmt.Fprintf(&b, "got  %s\nwant %s\n", x, y)
		}
	}
	return b.String()
}

// TestRebuildReproducesTheRuns exports three times (the data changing in
// between, one run killed mid-way), then rebuilds from the raw archive with
// the simulator gone: the tables, bookkeeping included, and the Parquet
// files come out identical, in place and into a brand-new warehouse.
func TestRebuildReproducesTheRuns(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(180, 100))
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets", "ticketInvoices", "customFields/tickets")
	setEnv(t, env)
	if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run 1: exit %d\n%s%s", code, out, stderr)
	}
	north := srv.Shop("north")
	ids := north.TicketIDs()
	for i, id := range ids[:5] {
		if err := srv.SetTicketStatus("north", id, fmt.Sprintf("Relabelled %d", i), time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	// Run 2 dies after archiving pages past its first checkpoint.
	cmd, out := startExport(t, append(env, crashEnv+"="+pipeline.HookArchived+"#7"), "run", "--config", cfg)
	if err := cmd.Wait(); !killed(err) {
		t.Fatalf("run 2 was not killed: %v\n%s", err, out)
	}
	if err := srv.SetTicketStatus("north", ids[7], "Changed again", time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run 3: exit %d\n%s%s", code, out, stderr)
	}
	srv.Close() // from here on, no network

	before := fullSnapshot(t, dir)
	beforeValues := snapshotWithout(t, dir, provenance...)
	// A version per ticket, one more per status change the tickets show (5
	// relabelled, one changed again — unless run 3, resuming the listing
	// the killed run 2 left, started past it).
	changed := queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets WHERE status_label LIKE 'Relabelled %' OR status_label = 'Changed again'`)
	if n, _ := strconv.Atoi(changed); n < 5 || !strings.Contains(before, "mgr.tickets [280 ") || !strings.Contains(before, fmt.Sprintf("mgr.tickets_history [%d ", 280+n)) {
		t.Fatalf("snapshot before (%s changed tickets) = %s", changed, before)
	}
	code, out2, stderr := runCLI(t, "rebuild", "--config", cfg)
	if code != exitOK {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out2, stderr)
	}
	if !strings.Contains(out2, "0 API requests") || !strings.Contains(out2, "archived page(s) skipped") {
		t.Errorf("rebuild output:\n%s", out2)
	}
	if after := fullSnapshot(t, dir); after != before {
		t.Fatalf("rebuild changed the warehouse:\n%s", lineDiff(after, before))
	}

	// The warehouse lost: the archive alone rebuilds it.
	for _, f := range []string{"w.duckdb", "w.duckdb.wal"} {
		os.Remove(filepath.Join(dir, f))
	}
	if err := os.RemoveAll(filepath.Join(dir, "pq")); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "rebuild", "--config", cfg); code != exitOK {
		t.Fatalf("rebuild from nothing: exit %d\n%s%s", code, out, stderr)
	}
	// Without the warehouse's marks, the killed run's uncommitted tail is
	// replayed too, and run 3 re-listed everything after what run 2
	// committed: the same rows and versions. Which pages were the tail
	// depends on how the two shops' pages interleaved; when it held a
	// relabelled ticket, the rebuilt version says run 2 saw it first (it
	// did) where the warehouse says run 3. So here the values count.
	if got, want := snapshotWithout(t, dir, provenance...), beforeValues; got != want {
		t.Fatalf("rebuild from the archive alone differs:\n%s", lineDiff(got, want))
	}
	// It rewrote every shop's partitions: each shop is queued for the lake,
	// for the tables and for the conformed model.
	shops := queryCSV(t, cfg, `SELECT string_agg(DISTINCT account, ' ' ORDER BY account) FROM mgr.tickets`)
	for _, tbl := range []string{"mgr.tickets", "mgr.tickets_history", "main"} {
		got := queryCSV(t, cfg, fmt.Sprintf(`SELECT coalesce(string_agg(account, ' ' ORDER BY account), '-') FROM meta.lake_queue WHERE table_name = '%s'`, tbl))
		if got != shops {
			t.Errorf("lake queue for %s after a rebuild from nothing: %s, want every shop with tickets: %s", tbl, got, shops)
		}
	}

	if code, _, stderr := runCLI(t, "rebuild", "--config", cfg, "--table", "mgr.nope"); code != exitUsage || !strings.Contains(stderr, `no table "mgr.nope"`) {
		t.Errorf("unknown table: exit %d, %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, "rebuild", "--config", cfg, "--table", "tickets"); code != exitOK || !strings.Contains(out, "mgr.tickets") {
		t.Errorf("--table tickets: exit %d\n%s%s", code, out, stderr)
	}
}

// A rebuild killed at each step (a replayed run committed into the
// keyless shadows, the shadows keyed but not swapped in) leaves every
// table as it was, and the next rebuild starts clean and reproduces the
// runs. One that fails part-way (an archived page it cannot read) leaves
// every table, the detail queue and the Parquet files as they were, and
// no shadow tables behind.
func TestAKilledOrFailedRebuildLeavesTheWarehouse(t *testing.T) {
	t.Parallel()
	dir, cfg, env := exportTwice(t, "south")
	before := fullSnapshot(t, dir)
	shadows := `SELECT count(*) FROM information_schema.tables WHERE ends_with(table_name, '__rebuild')`
	for _, p := range []string{load.HookAfterCommit + "#1", load.HookShadowsKeyed + "#1"} {
		cmd, out := startExport(t, append(env, crashEnv+"="+p), "rebuild", "--config", cfg)
		if err := cmd.Wait(); !killed(err) {
			t.Fatalf("rebuild killed at %s: %v\n%s", p, err, out)
		}
		if after := fullSnapshot(t, dir); after != before {
			t.Fatalf("a rebuild killed at %s changed the warehouse:\nbefore:\n%s\nafter:\n%s", p, before, after)
		}
		if got := queryCSV(t, cfg, shadows); got == "0" {
			t.Errorf("killed at %s: no shadow table left, so the kill came after the swap", p)
		}
	}
	code, out, stderr := runCLI(t, "rebuild", "--config", cfg)
	if code != exitOK {
		t.Fatalf("rebuild after the kills: exit %d\n%s%s", code, out, stderr)
	}
	if after := fullSnapshot(t, dir); after != before {
		t.Fatalf("the rebuild after the kills:\n%s\nwant:\n%s", after, before)
	}
	if got := queryCSV(t, cfg, shadows); got != "0" {
		t.Errorf("%s shadow tables left after a clean rebuild", got)
	}
	// The swapped-in tables keep their primary keys.
	if got := queryCSV(t, cfg, `SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND schema_name = 'mgr' AND table_name IN ('tickets', 'tickets_history', 'ticket_invoices')`); got != "3" {
		t.Errorf("primary keys on the rebuilt tables: %s, want 3", got)
	}

	details := queryCSV(t, cfg, `SELECT count(*), md5(string_agg(concat_ws('|', account, resource, id, list_fingerprint, detail_fingerprint), ';' ORDER BY ALL)) FROM meta.details`)
	// The last run's archive of south now holds one page that is not a list.
	raw := filepath.Join(dir, "raw")
	files, err := archive.List(raw)
	if err != nil {
		t.Fatal(err)
	}
	last := files[len(files)-1]
	if last.Account != "south" {
		t.Fatalf("the last archive file is %s, want south's", last.Rel)
	}
	if err := os.Remove(filepath.Join(raw, last.Rel)); err != nil {
		t.Fatal(err)
	}
	w, err := archive.Create(raw, last.Source, last.Account, last.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(archive.Entry{Resource: "tickets", Kind: archive.KindList, FetchedAt: time.Now(), Body: []byte(`{"not":"a list"}`)}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	code, out, stderr = runCLI(t, "rebuild", "--config", cfg)
	if code != exitFailure || !strings.Contains(stderr, "rebuild failed, tables unchanged") {
		t.Fatalf("rebuild over a broken page: exit %d\n%s%s", code, out, stderr)
	}
	if after := fullSnapshot(t, dir); after != before {
		t.Errorf("a failed rebuild changed the warehouse:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := queryCSV(t, cfg, `SELECT count(*), md5(string_agg(concat_ws('|', account, resource, id, list_fingerprint, detail_fingerprint), ';' ORDER BY ALL)) FROM meta.details`); got != details {
		t.Errorf("a failed rebuild changed the detail queue: %s, was %s", got, details)
	}
	if got := queryCSV(t, cfg, shadows); got != "0" {
		t.Errorf("%s shadow tables left behind", got)
	}
	if got := queryCSV(t, cfg, `SELECT status FROM meta.runs WHERE kind = 'rebuild' ORDER BY started_at DESC LIMIT 1`); got != "failed" {
		t.Errorf("the rebuild is recorded as %q", got)
	}
}

// exportTwice exports the MGR simulator's two shops (tickets and their
// invoices) twice into a new folder, some of shop's tickets changing
// after each run: the second run's archive holds what only it loaded. It
// returns the folder, the config and the simulator's keys.
func exportTwice(t *testing.T, shop string) (dir, cfg string, env []string) {
	t.Helper()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(120, 60))
	t.Cleanup(srv.Close)
	dir = t.TempDir()
	cfg, env = simConfig(t, srv, dir, "tickets", "ticketInvoices")
	setEnv(t, env)
	for i := range 2 {
		if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, out, stderr)
		}
		for _, id := range srv.Shop(shop).TicketIDs()[:4] {
			if err := srv.SetTicketStatus(shop, id, fmt.Sprintf("Moved on %d", i), time.Date(2026, 11, 20+i, 9, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir, cfg, env
}
