package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/internal/tiny/tinytest"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/report"
)

// The engine's tests run with a third source, Tiny, that the engine's code
// has never heard of: registered here, as a new source is one line in the
// list.
func TestMain(m *testing.M) {
	tiny.Register()
	os.Exit(m.Run())
}

// tinyConfig is a config of the simulator's accounts.
func tinyConfig(t *testing.T, srv *tinytest.Server, dir string) *config.Config {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "warehouse: %s\nparquet: %s\nstate_dir: %s\naccounts:\n", filepath.Join(dir, "w.duckdb"), filepath.Join(dir, "pq"), filepath.Join(dir, "state"))
	keys := map[string]string{}
	for _, a := range srv.Accounts {
		env := "TINY_" + strings.ToUpper(a.Name) + "_KEY"
		keys[env] = a.Key
		fmt.Fprintf(&b, "  - {name: %s, source: tiny, base_url: %q, api_key_env: %s, currency: EUR}\n", a.Name, srv.URL, env)
	}
	cfg, err := config.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(k string) string { return keys[k] }
	return cfg
}

// A source the engine does not know runs through it whole: its rows land
// in its own schema and, through its model fragments, in main.*; the
// shipped queries over main.* and its own query read them; the report
// draws it; the Parquet tree holds it. Nothing outside its folder names it.
func TestAThirdSourceRunsThroughTheEngine(t *testing.T) {
	ctx := context.Background()
	srv := tinytest.NewServer(nil, 230)
	defer srv.Close()
	dir := t.TempDir()
	cfg := tinyConfig(t, srv, dir)
	rep, err := Run(ctx, cfg, Options{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Summary.Status != load.StatusOK {
		t.Fatalf("run: %s", rep.Summary.Status)
	}
	w, err := load.OpenReadOnly(ctx, cfg.Warehouse)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	one := func(q string) [][]string {
		t.Helper()
		res, err := w.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res.Rows
	}
	groups := map[string]string{"open": "open", "waiting": "waiting", "done": "done", "cancelled": "cancelled"}
	for _, a := range srv.Accounts {
		want := map[string]int{}
		for status, n := range srv.Counts(a.Name) {
			want[groups[status]] += n
		}
		got := map[string]int{}
		for _, r := range one(fmt.Sprintf("SELECT status_group, count(*) FROM main.tickets WHERE source = 'tiny' AND account = '%s' GROUP BY 1", a.Name)) {
			var n int
			fmt.Sscan(r[1], &n)
			got[r[0]] = n
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: main.tickets by status group %v, the simulator holds %v", a.Name, got, want)
		}
		if n := one(fmt.Sprintf("SELECT count(*) FROM main.tickets WHERE account = '%s' AND currency = 'EUR' AND created_day IS NOT NULL", a.Name))[0][0]; n != "230" {
			t.Errorf("%s: %s tickets with a day and the account's currency, want 230", a.Name, n)
		}
	}

	// Its own query, listed with the others and marked as its own.
	q, err := sources.Query("tiny_jobs_by_status")
	if err != nil || q.Source != tiny.Name {
		t.Fatalf("tiny's query: %+v %v", q.Source, err)
	}
	byStatus := map[string]string{}
	for _, r := range one(q.SQL) {
		byStatus[r[0]+" "+r[1]] = r[2]
	}
	for _, a := range srv.Accounts {
		for status, n := range srv.Counts(a.Name) {
			if byStatus[a.Name+" "+status] != fmt.Sprint(n) {
				t.Errorf("tiny_jobs_by_status %s %s = %q, want %d", a.Name, status, byStatus[a.Name+" "+status], n)
			}
		}
	}
	// A shipped query over main.* counts it like any source.
	backlog, err := sources.Query("backlog")
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	for _, r := range one(backlog.SQL) {
		var n int
		fmt.Sscan(r[len(r)-1], &n)
		if r[0] == tiny.Name {
			open += n
		}
	}
	wantOpen := 0
	for _, a := range srv.Accounts {
		c := srv.Counts(a.Name)
		wantOpen += c["open"] + c["waiting"]
	}
	if open != wantOpen {
		t.Errorf("backlog counts %d open Tiny tickets, the simulator holds %d", open, wantOpen)
	}

	// The report draws it: a scope per account, its backlog charted.
	r, err := report.Build(ctx, w, report.Options{Generated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var scopes []string
	for _, s := range r.Scopes {
		scopes = append(scopes, s.Account)
	}
	if !slices.Contains(scopes, "harbor") || !slices.Contains(scopes, "hill") {
		t.Errorf("report scopes %v, want the Tiny accounts", scopes)
	}
	for _, s := range r.Sections {
		if s.ID != "backlog" {
			continue
		}
		for _, f := range s.Figures {
			if f.Scope == "harbor" && (len(f.Panels) == 0 || len(f.Rows) == 0) {
				t.Errorf("the report's backlog for harbor is empty")
			}
		}
	}

	// And the Parquet tree holds its table and its part of main.*.
	for _, p := range []string{"tiny/jobs", "main/tickets"} {
		files := 0
		filepath.Walk(filepath.Join(cfg.Parquet, p, "account=harbor"), func(path string, _ os.FileInfo, _ error) error {
			if strings.HasSuffix(path, ".parquet") {
				files++
			}
			return nil
		})
		if files == 0 {
			t.Errorf("no Parquet under %s/account=harbor", p)
		}
	}
}

// Each account turns its pages into rows and hands them to the one
// loader. However many accounts wait on a slow loader, only
// PreparingPages of them hold rows it has not taken, beside the pages
// already in its buffer and the one it is loading: what the export holds
// must not grow with the accounts.
func TestRowsWaitingForTheLoaderDoNotGrowWithTheAccounts(t *testing.T) {
	ctx := context.Background()
	names := make([]string, 16)
	for i := range names {
		names[i] = fmt.Sprintf("shop%02d", i)
	}
	srv := tinytest.NewServerOf(nil, 120, names...)
	defer srv.Close()
	cfg := tinyConfig(t, srv, t.TempDir())
	var mu sync.Mutex
	held, most, loaded := 0, 0, 0
	hook := func(point string) {
		mu.Lock()
		switch point {
		case HookTransforming:
			held++
			most = max(most, held)
		case HookArchived:
			held--
			loaded++
		}
		slow := point == HookArchived && loaded <= 40
		mu.Unlock()
		if slow {
			// The loader lags behind the first pages: every account has
			// fetched one and waits.
			time.Sleep(20 * time.Millisecond)
		}
	}
	rep, err := Run(ctx, cfg, Options{Hook: hook})
	if err != nil || rep.Summary.Status != load.StatusOK {
		t.Fatalf("run: %v %v", rep.Summary.Status, err)
	}
	buffer := PageBufferFor(tiny.Source.Pace(cfg.Accounts[0]))
	bound := PreparingPages() + buffer + 1
	if bound >= len(names) {
		t.Fatalf("the bound (%d) is not below the accounts (%d): the test could not fail", bound, len(names))
	}
	if most > bound {
		t.Errorf("%d pages turned into rows at once waited for the loader, want at most %d (%d preparing, %d buffered, 1 loading)", most, bound, PreparingPages(), buffer)
	}
	if loaded < len(names) {
		t.Errorf("the loader took %d pages, fewer than the %d accounts", loaded, len(names))
	}
}
