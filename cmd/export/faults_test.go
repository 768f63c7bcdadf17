package export

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/extract/wiretest"
	"github.com/repairshop/export/pipeline"
)

// faultWorld is one source's simulator, on a fake clock, for one row of
// the fault matrix.
type faultWorld struct {
	clk *budget.Fake
	mgr *mgrtest.Server
	ro  *repairopstest.Server
	// url replaces the simulator's base URL in the first run's config.
	url string
	// timeout is the accounts' request_timeout: short for the rows that
	// stall an answer, long enough for the others under the race detector.
	timeout time.Duration
	row     int
	dir     string // the row's one directory: every run shares the warehouse
}

func (w *faultWorld) wire() *wiretest.Wire {
	if w.mgr != nil {
		return w.mgr.Wire
	}
	return w.ro.Wire
}

// Outcomes of a fault: the run completes with every table as the
// simulator holds it, or it stops cleanly (exit 1 or 3) with a message
// naming the account, a resource and the cause, and the next run, the
// fault gone, completes.
const (
	survives = "completes, tables exact"
	stops    = "stops cleanly; the next run completes"
)

// TestFaultMatrix is the fault matrix of RELIABILITY.md: each row injects
// one fault into one simulator (the real export, the real HTTP stack,
// MGR's documented 30 requests a minute), runs an export and holds it to
// its outcome. In every run of every row no key meets more than one
// rate-limit error (MGR's, a RepairOps 429, or a proxy's bare 429).
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	mgrOnly := func(f mgrtest.Fault) func(*faultWorld) { return func(w *faultWorld) { w.mgr.Inject(f) } }
	roOnly := func(f repairopstest.Fault) func(*faultWorld) { return func(w *faultWorld) { w.ro.Inject(f) } }
	onWire := func(f wiretest.Faults) func(*faultWorld) { return func(w *faultWorld) { w.wire().Inject(f) } }
	unreachable := func(w *faultWorld) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		w.url = "http://" + ln.Addr().String() + "/v1"
		ln.Close() // nothing listens there now
	}
	stall := 3 * time.Second // against request_timeout: 1s (see below)
	cases := []struct {
		fault   string
		source  string
		inject  func(*faultWorld)
		skew    time.Duration // the server's clock ahead of the client's
		outcome string
		cause   string // for stops: what the message says the cause is
	}{
		{"a burst of 5xx", "mgr", mgrOnly(mgrtest.Fault{ServerErrors: 3}), 0, survives, ""},
		{"a burst of 5xx", "repairops", roOnly(repairopstest.Fault{ServerErrors: 3}), 0, survives, ""},
		{"5xx that outlast the retries", "mgr", mgrOnly(mgrtest.Fault{ServerErrors: 40}), 0, stops, "HTTP 503"},
		{"5xx that outlast the retries", "repairops", roOnly(repairopstest.Fault{ServerErrors: 40}), 0, stops, "HTTP 500"},
		{"timeouts", "mgr", mgrOnly(mgrtest.Fault{Stall: 2, StallFor: stall}), 0, survives, ""},
		{"timeouts", "repairops", roOnly(repairopstest.Fault{Stall: 2, StallFor: stall}), 0, survives, ""},
		{"connection resets", "mgr", onWire(wiretest.Faults{Reset: 3}), 0, survives, ""},
		{"connection resets", "repairops", onWire(wiretest.Faults{Reset: 3}), 0, survives, ""},
		{"truncated bodies", "mgr", mgrOnly(mgrtest.Fault{Delay: 3, Truncated: 2}), 0, survives, ""},
		{"truncated bodies", "repairops", roOnly(repairopstest.Fault{Delay: 3, Truncated: 2}), 0, survives, ""},
		{"an HTML page with status 200", "mgr", mgrOnly(mgrtest.Fault{HTMLPage: 2}), 0, survives, ""},
		{"an HTML page with status 200", "repairops", roOnly(repairopstest.Fault{HTMLPage: 2}), 0, survives, ""},
		{"JSON labelled text/plain", "mgr", onWire(wiretest.Faults{WrongType: 5}), 0, survives, ""},
		{"JSON labelled text/plain", "repairops", onWire(wiretest.Faults{WrongType: 5}), 0, survives, ""},
		{"an empty body with status 200", "mgr", onWire(wiretest.Faults{Empty: 2}), 0, survives, ""},
		{"an empty body with status 200", "repairops", onWire(wiretest.Faults{Empty: 2}), 0, survives, ""},
		{"null instead of the records", "mgr", mgrOnly(mgrtest.Fault{Delay: 2, Null: 2}), 0, survives, ""},
		{"null instead of the records", "repairops", roOnly(repairopstest.Fault{NullData: 2}), 0, survives, ""},
		{"a page served twice", "mgr", mgrOnly(mgrtest.Fault{DuplicatePage: 1}), 0, survives, ""},
		{"a page served twice", "repairops", roOnly(repairopstest.Fault{DuplicatePage: 1}), 0, survives, ""},
		{"pages shifted by a record added at the head", "mgr", mgrOnly(mgrtest.Fault{OffsetDrift: 2}), 0, survives, ""},
		{"pages shifted by a record added at the head", "repairops", roOnly(repairopstest.Fault{Shift: 1}), 0, survives, ""},
		{"pages shifted by a record deleted at the head", "mgr", mgrOnly(mgrtest.Fault{OffsetDriftBack: 1}), 0, survives, ""},
		{"pages shifted by a record deleted at the head", "repairops", roOnly(repairopstest.Fault{Unshift: 1}), 0, survives, ""},
		{"401 under throttling, the key having worked", "mgr", mgrOnly(mgrtest.Fault{Delay: 4, Unauthorized: 3}), 0, stops, "rate limit"},
		{"401 mid-run", "repairops", roOnly(repairopstest.Fault{Delay: 4, Unauthorized: 3}), 0, stops, "key is missing or invalid"},
		{"a proxy's 429 without headers", "mgr", onWire(wiretest.Faults{TooMany: 5}), 0, stops, "429"},
		{"a proxy's 429 without headers", "repairops", onWire(wiretest.Faults{TooMany: 5}), 0, stops, "without a reset time"},
		{"a server clock 7 minutes ahead", "mgr", nil, 7 * time.Minute, survives, ""},
		{"a server clock 7 minutes behind, its quota spent", "repairops", func(w *faultWorld) { w.ro.Spend(w.ro.Orgs[0].Key, repairopstest.DefaultQuotas["read"]) }, -7 * time.Minute, survives, ""},
		{"an unreachable port", "mgr", unreachable, 0, stops, "connection refused"},
		{"an unreachable port", "repairops", unreachable, 0, stops, "connection refused"},
		{"a 200 MB body", "mgr", onWire(wiretest.Faults{Huge: 1}), 0, stops, "larger than 64 MiB"},
		{"a 200 MB body", "repairops", onWire(wiretest.Faults{Huge: 1}), 0, stops, "larger than 64 MiB"},
		{"JSON nested 10,001 deep", "mgr", onWire(wiretest.Faults{Deep: 1}), 0, stops, "nested more than 10,000 levels"},
		{"JSON nested 10,001 deep", "repairops", onWire(wiretest.Faults{Deep: 1}), 0, stops, "nested more than 10,000 levels"},
	}
	for i, c := range cases {
		t.Run(c.source+"/"+c.fault, func(t *testing.T) {
			t.Parallel() // by hand, GOMAXPROCS rows at a time; make test runs one at a time, a unit of its own (scripts/test.sh)
			w := &faultWorld{row: i, timeout: 30 * time.Second, clk: budget.NewFake(repairopstest.DataEnd().Add(8*time.Hour + 10*time.Minute))}
			if c.source == "mgr" {
				w.mgr = mgrtest.NewServer(mgrtest.WithClock(w.clk), mgrtest.WithClockSkew(c.skew), mgrtest.WithTickets(70, 30))
				defer w.mgr.Close()
			} else {
				w.ro = repairopstest.NewServer(repairopstest.WithClock(w.clk), repairopstest.WithClockSkew(c.skew), repairopstest.WithTickets(60))
				defer w.ro.Close()
			}
			if c.inject != nil {
				c.inject(w)
			}
			if strings.HasPrefix(c.fault, "timeouts") {
				w.timeout = time.Second // the stall is 3 s
			}
			cfgPath, cfg := w.config(t, w.url)
			err, msg := w.run(t, cfg)
			switch {
			case c.outcome == survives && err != nil:
				t.Fatalf("run: exit %d: %v\n%s", exitCode(err), err, msg)
			case c.outcome == stops && err == nil:
				t.Fatalf("run completed; want it stopped by %q\n%s", c.cause, msg)
			case c.outcome == stops:
				if code := exitCode(err); code != exitFailure && code != exitPartial {
					t.Fatalf("exit %d, want 1 or 3: %v", code, err)
				}
				w.assertNamed(t, err.Error(), c.cause)
				// The fault goes away; cron starts the next run later.
				w.mgrOrRO(func(s *mgrtest.Server) { s.ClearFaults() }, func(s *repairopstest.Server) { s.ClearFaults() })
				w.clk.Advance(2 * time.Minute)
				cfgPath, cfg = w.config(t, "")
				if err, msg := w.run(t, cfg); err != nil {
					t.Fatalf("the next run: exit %d: %v\n%s", exitCode(err), err, msg)
				}
			}
			tables := faultTables(c.source)
			w.mgrOrRO(func(s *mgrtest.Server) { assertMatchesSimulatorTables(t, s, cfgPath, tables...) }, func(s *repairopstest.Server) { assertMatchesRepairOps(t, s, cfgPath, tables...) })
		})
	}
}

// faultResources are what the matrix exports: lists of several pages and
// a resource read record by record (MGR's invoices, RepairOps' tickets).
var faultResources = map[string][]string{
	"mgr":       {"tickets", "customers", "ticketInvoices"},
	"repairops": {"tickets", "customers", "inventory"},
}

// faultTables are the tables (children included) of faultResources.
func faultTables(source string) []string {
	var out []string
	for _, t := range sources.Tables() {
		root := t
		if t.Parent != nil {
			root = t.Parent
		}
		if t.Source == source && slices.Contains(faultResources[source], root.Resource) {
			out = append(out, t.FullName())
		}
	}
	return out
}

func (w *faultWorld) mgrOrRO(m func(*mgrtest.Server), r func(*repairopstest.Server)) {
	if w.mgr != nil {
		m(w.mgr)
	} else {
		r(w.ro)
	}
}

// config writes the accounts of the simulator (at url if not "") into
// one warehouse, the same for every run of a row.
func (w *faultWorld) config(t *testing.T, url string) (string, *config.Config) {
	t.Helper()
	var b strings.Builder
	b.WriteString("warehouse: ./w.duckdb\nparquet: ./pq\nstate_dir: ./state\naccounts:\n")
	account := func(name, source, base, key, extra string) {
		if url != "" {
			base = url
		}
		// Rows run in parallel: each its own variable (t.Setenv is not
		// allowed there).
		env := fmt.Sprintf("TEST_FAULT_%d_%s_KEY", w.row, strings.ToUpper(name))
		os.Setenv(env, key)
		t.Cleanup(func() { os.Unsetenv(env) })
		fmt.Fprintf(&b, "  - name: %s\n    source: %s\n    base_url: %s\n    api_key_env: %s\n    request_timeout: %s\n%s", name, source, base, env, w.timeout, extra)
	}
	w.mgrOrRO(func(s *mgrtest.Server) {
		for _, sh := range s.Shops {
			account(sh.Name, "mgr", s.URL, sh.Key, "    resources: ["+strings.Join(faultResources["mgr"], ", ")+"]\n")
		}
	}, func(s *repairopstest.Server) {
		for _, o := range s.Orgs {
			// Small pages, so that every list has several.
			account(o.Name, "repairops", s.URL, o.Key, "    page_size: 50\n    resources: ["+strings.Join(faultResources["repairops"], ", ")+"]\n")
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if w.dir == "" {
		w.dir = t.TempDir()
	}
	path := writeConfig(t, w.dir, b.String())
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// run runs one export and checks the rate-limit rule: in this run, no key
// met more than one rate-limit error.
func (w *faultWorld) run(t *testing.T, cfg *config.Config) (error, string) {
	t.Helper()
	limited := func() map[string]int { // by account: each has its own key
		n := map[string]int{}
		w.mgrOrRO(func(s *mgrtest.Server) {
			for _, sh := range s.Shops {
				n[sh.Name] = s.RateLimitErrors(sh.Name) + s.Wire.TooManyServed(sh.Key)
			}
		}, func(s *repairopstest.Server) {
			for _, o := range s.Orgs {
				n[o.Name] = s.Count(o.Name, 429, "") + s.Wire.TooManyServed("Bearer "+o.Key)
			}
		})
		return n
	}
	before := limited()
	var logs, out strings.Builder
	_, err := runExport(context.Background(), cfg, pipeline.Limits{}, w.clk, slog.New(slog.NewTextHandler(&logs, nil)), &out)
	for account, n := range limited() {
		if n-before[account] > 1 {
			t.Errorf("%s met %d rate-limit errors in one run, want at most 1\n%s", account, n-before[account], logs.String())
		}
	}
	w.mgrOrRO(func(s *mgrtest.Server) {
		for _, sh := range s.Shops {
			if s.Blocked(sh.Name) {
				t.Errorf("%s: key blocked", sh.Name)
			}
		}
	}, func(*repairopstest.Server) {})
	return err, out.String() + logs.String()
}

// assertNamed checks that a stopped run's message names an account of the
// simulator, a resource of its source and the cause.
func (w *faultWorld) assertNamed(t *testing.T, msg, cause string) {
	t.Helper()
	var accounts []string
	source := ""
	w.mgrOrRO(func(s *mgrtest.Server) {
		source = "mgr"
		for _, sh := range s.Shops {
			accounts = append(accounts, sh.Name)
		}
	}, func(s *repairopstest.Server) {
		source = "repairops"
		for _, o := range s.Orgs {
			accounts = append(accounts, o.Name)
		}
	})
	named := func(words []string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	var resources []string
	src, _ := sources.Lookup(source)
	for _, r := range src.Resources {
		resources = append(resources, " "+r.Name+" ")
	}
	if !named(accounts) || !named(resources) || !strings.Contains(msg, cause) {
		t.Errorf("the message does not name the account (%v), a resource and the cause %q:\n%s", accounts, cause, msg)
	}
}
