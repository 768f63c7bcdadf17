package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/cliargs"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/present"
)

// runExport runs an export in-process as `repairshop-export run` does, printing its
// report to out.
func runExport(ctx context.Context, cfg *config.Config, lim pipeline.Limits, clk budget.Clock, log *slog.Logger, out io.Writer) (load.Summary, error) {
	rep, err := pipeline.Run(ctx, cfg, pipeline.Options{Limits: lim, Clock: clk, Log: log})
	present.RunReport(out, rep)
	return rep.Summary, err
}

// runCLI runs the command line in-process, with the test's environment
// (see setEnv), and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp(&out, &errOut, testEnv(t))
	err := app.RunContext(context.Background(), cliargs.FlagsFirst(app, append([]string{"export"}, args...)))
	if err != nil {
		fmt.Fprintln(&errOut, "repairshop-export:", err)
	}
	return exitCode(err), out.String(), errOut.String()
}

// envs are the tests' own environments (setEnv), by test name: the
// process's environment is one for every test, and tests run side by
// side, each with its own keys.
var envs sync.Map // test name → map[string]string

// setEnv gives the test (and its subtests) these NAME=value variables,
// for the command lines it runs in-process (runCLI, loadTestConfig);
// processes it starts get them as their environment.
func setEnv(t *testing.T, env []string) {
	t.Helper()
	vars := map[string]string{}
	if old, ok := envs.Load(t.Name()); ok {
		for k, v := range old.(map[string]string) {
			vars[k] = v
		}
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	envs.Store(t.Name(), vars)
	t.Cleanup(func() { envs.Delete(t.Name()) })
}

// testEnv is the environment of a test: its variables and its parents'
// (setEnv), then the process's. A test has a key-ledger directory of its
// own (EXPORT_STATE_DIR): the simulators' keys are the same in every test
// that seeds them alike, and tests run side by side.
func testEnv(t *testing.T) func(string) string {
	t.Helper()
	if lookupEnv(t.Name(), stateDirEnv) == "" {
		setEnv(t, []string{stateDirEnv + "=" + t.TempDir()})
	}
	name := t.Name()
	return func(key string) string {
		if v := lookupEnv(name, key); v != "" {
			return v
		}
		return os.Getenv(key)
	}
}

const stateDirEnv = "EXPORT_STATE_DIR"

// lookupEnv finds a variable set by setEnv for the named test or a test
// above it ("" if none).
func lookupEnv(name, key string) string {
	for {
		if vars, ok := envs.Load(name); ok {
			if v, ok := vars.(map[string]string)[key]; ok {
				return v
			}
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return ""
		}
		name = name[:i]
	}
}

// testVars are the test's variables (setEnv) as NAME=value, for a process
// it starts.
func testVars(t *testing.T) []string {
	t.Helper()
	testEnv(t) // its state directory
	seen := map[string]bool{}
	var out []string
	for name := t.Name(); ; {
		if vars, ok := envs.Load(name); ok {
			for k, v := range vars.(map[string]string) {
				if !seen[k] { // the innermost test's value wins
					seen[k] = true
					out = append(out, k+"="+v)
				}
			}
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return out
		}
		name = name[:i]
	}
}

// loadTestConfig loads a config with the test's environment.
func loadTestConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = testEnv(t)
	return cfg
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "export.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrorsExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := "warehouse: ./w.duckdb\naccounts:\n  - name: north\n    source: mgr\n    base_url: http://127.0.0.1:1/v1\n    api_key_env: TEST_UNSET_KEY_VAR\n"
	tests := []struct {
		name, config, want string
	}{
		{"missing env var names it", good, "TEST_UNSET_KEY_VAR is not set"},
		{"unknown key is an error", good + "    requests_per_minit: 30\n", "requests_per_minit"},
		{"bad source", strings.Replace(good, "source: mgr", "source: mgx", 1), `source "mgx"`},
		{"no warehouse", strings.Replace(good, "warehouse: ./w.duckdb", "", 1), "warehouse: missing"},
		{"bad account name", strings.Replace(good, "name: north", "name: North Shop", 1), "lower-case"},
		{"bad URL", strings.Replace(good, "http://127.0.0.1:1/v1", "ftp://x", 1), "not an http(s) URL"},
		{"not YAML", "warehouse: [", "config"},
		{"RepairOps key on an MGR account", good + "    page_size: 100\n", "page_size applies to source repairops only"},
		{"page size over RepairOps' limit", strings.Replace(good, "source: mgr", "source: repairops", 1) + "    page_size: 501\n", "page_size 501 is outside 1..500"},
		{"per-minute rate on RepairOps", strings.Replace(good, "source: mgr", "source: repairops", 1) + "    requests_per_minute: 30\n", "use requests_per_hour"},
		{"bad start date", strings.Replace(good, "source: mgr", "source: repairops", 1) + "    start_date: 01/02/2025\n", "start_date \"01/02/2025\" is not a date"},
		{"a rate MGR would block", good + "    requests_per_minute: 1000\n", "requests_per_minute: 1000 is above MGR's documented limit of 30 a minute"},
		{"a rate of zero", good + "    requests_per_minute: 0\n", "requests_per_minute: 0 is not a whole number of requests of at least 1"},
		{"a fractional rate", good + "    requests_per_minute: 1.5\n", "requests_per_minute: 1.5 is not a whole number"},
		{"a quota above RepairOps' Read scope", strings.Replace(good, "source: mgr", "source: repairops", 1) + "    requests_per_hour: 5000\n", "requests_per_hour: 5000 is above RepairOps' documented limit of 1000 an hour"},
	}
	// Every command that reads the config gives the same exit code for
	// its errors. A missing key is run's error alone: check reports it as
	// the account's finding, and the others never use a key.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, t.TempDir(), tt.config)
			commands := [][]string{{"run"}}
			if !strings.Contains(tt.want, "is not set") {
				commands = append(commands, []string{"check"}, []string{"plan"}, []string{"rebuild"}, []string{"listen"},
					[]string{"status"}, []string{"query", "--sql", "SELECT 1"}, []string{"report", "--out", filepath.Join(t.TempDir(), "r.html")})
			}
			for _, cmd := range commands {
				code, stdout, stderr := runCLI(t, append(cmd, "--config", p)...)
				if code != exitUsage || !strings.Contains(stdout+stderr, tt.want) {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q", cmd[0], code, stdout, stderr, tt.want)
				}
			}
		})
	}
	// Above the limit, the account may say the server allows more.
	p := writeConfig(t, dir, good+"    requests_per_minute: 1000\n    override_documented_limit: true\n")
	if code, _, stderr := runCLI(t, "plan", "--config", p); strings.Contains(stderr, "documented limit") {
		t.Errorf("override_documented_limit: true still refused: exit %d, %s", code, stderr)
	}
	code, _, stderr := runCLI(t, "run", "--config", filepath.Join(dir, "nope.yaml"))
	if code != exitUsage || !strings.Contains(stderr, "nope.yaml") || !strings.Contains(stderr, "`repairshop-export init`") {
		t.Fatalf("unreadable config: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "run", "--no-such-flag"); code != exitUsage {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
}

// TestVersionAndLimitsAreShown: --version names the build, and every
// --help states each vendor's documented rate limits.
func TestVersionAndLimitsAreShown(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runCLI(t, "--version")
	if code != exitOK || !strings.HasPrefix(stdout, Name+" ") || !strings.Contains(stdout, runtime.Version()) {
		t.Errorf("--version: exit %d, %q; want %s, its version and %s", code, stdout, Name, runtime.Version())
	}
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"check", "--help"}} {
		_, stdout, _ := runCLI(t, args...)
		for _, want := range []string{"MGR: 30 requests a minute", "RepairOps: 1,000 requests an hour", "override_documented_limit: true"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v does not say %q:\n%s", args, want, stdout)
			}
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]int{
		nil:                                      exitOK,
		config.Usagef("x"):                       exitUsage,
		fmt.Errorf("a: %w", pipeline.ErrPartial): exitPartial,
		fmt.Errorf("r: %w", pipeline.ErrRejected): exitRejected,
		errors.New("boom"):                        exitFailure,
		fmt.Errorf("w: %w", config.UsageError{}):  exitUsage,
	} {
		if got := exitCode(err); got != want {
			t.Errorf("exitCode(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestRunTwiceAgainstSimulator(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(520, 230))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets")
	setEnv(t, env)

	code, out1, err1 := runCLI(t, "run", "--config", cfg)
	if code != exitOK {
		t.Fatalf("first run: exit %d\n%s\n%s", code, out1, err1)
	}
	snapshot := func() string {
		_, out, stderr := runCLI(t, "query", "--config", cfg, "--format", "csv", "--sql",
			`SELECT account, count(*), count(DISTINCT id), md5(string_agg(concat_ws('|', id, ticket_ref, created_date, last_updated, status_label, technician_email, invoice_id, _extra, run_id), ';' ORDER BY id)) FROM mgr.tickets GROUP BY account ORDER BY account`)
		if stderr != "" {
			t.Fatal(stderr)
		}
		return out
	}
	first := snapshot()
	for _, sh := range srv.Shops {
		if want := fmt.Sprintf("%s,%d,%d,", sh.Name, sh.Tickets(), sh.Tickets()); !strings.Contains(first, want) {
			t.Fatalf("table = %s, want %s… (every ticket exactly once)", first, want)
		}
	}
	code, out2, err2 := runCLI(t, "run", "--config", cfg)
	if code != exitOK {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out2, err2)
	}
	if second := snapshot(); second != first {
		t.Fatalf("second run changed the table:\n%s\n%s", first, second)
	}
	if !strings.Contains(out2, "parquet: 0 partition(s)") {
		t.Errorf("second run over the same data republished Parquet:\n%s", out2)
	}
	_, runs, _ := runCLI(t, "query", "--config", cfg, "--format", "csv", "--sql", "SELECT status, rows_inserted, rows_updated, rows_unchanged, requests > 0 FROM meta.runs ORDER BY started_at")
	if want := "status,rows_inserted,rows_updated,rows_unchanged,(requests > 0)\nok,750,0,0,true\nok,0,0,750,true\n"; runs != want {
		t.Errorf("meta.runs:\n%s\nwant:\n%s", runs, want)
	}
	// JSON types its values: counts are numbers, flags booleans.
	if _, out, _ := runCLI(t, "query", "--config", cfg, "--format", "json", "--sql", "SELECT status, rows_inserted, requests > 0 AS sent FROM meta.runs ORDER BY started_at LIMIT 1"); out != "[\n  {\"status\": \"ok\", \"rows_inserted\": 750, \"sent\": true}\n]\n" {
		t.Errorf("--format json:\n%s", out)
	}
	// Every shipped query (the sources' own too) runs against a real warehouse.
	for _, q := range sources.Queries() {
		if code, out, stderr := runCLI(t, "query", "--config", cfg, q.Name); code != exitOK || !regexp.MustCompile(`\(\d+ rows?\)`).MatchString(out) {
			t.Errorf("query %s: exit %d\n%s%s", q.Name, code, out, stderr)
		}
	}
	// The keys appear nowhere: output, logs, the warehouse, the Parquet files.
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(p, "export.yaml") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 3 {
		t.Fatalf("only %v written", files)
	}
	for _, sh := range srv.Shops {
		for name, text := range map[string]string{"stdout": out1 + out2, "stderr": err1 + err2} {
			if strings.Contains(text, sh.Key) {
				t.Errorf("%s shows the key of %s", name, sh.Name)
			}
		}
		for _, f := range files {
			data, _ := os.ReadFile(f)
			if bytes.Contains(data, []byte(sh.Key)) {
				t.Errorf("%s contains the key of %s", f, sh.Name)
			}
		}
	}
	// The raw archive holds every page both runs used, with its request
	// and no key (it is compressed, so read it back to look).
	raw := filepath.Join(dir, "raw")
	archived, err := archive.List(raw)
	if err != nil || len(archived) != 4 {
		t.Fatalf("archive files = %v, %v; want 2 runs × 2 accounts", archived, err)
	}
	pages := 0
	for _, f := range archived {
		err := archive.Read(raw, f.Rel, func(e archive.Entry) error {
			pages++
			line, _ := json.Marshal(e)
			for _, sh := range srv.Shops {
				if bytes.Contains(line, []byte(sh.Key)) {
					t.Errorf("archived page %s#%d contains the key of %s", f.Rel, e.Seq, sh.Name)
				}
			}
			if e.Resource != "tickets" || e.Params.Get("offset") == "" || e.Account != f.Account {
				t.Errorf("archived page %s#%d: %s %v %s", f.Rel, e.Seq, e.Resource, e.Params, e.Account)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := 2 * (int(mgr.ListRequests(520) + mgr.ListRequests(230))); pages != want {
		t.Errorf("archived %d pages, want %d", pages, want)
	}
}

// TestRejectsAreQuarantinedAndReported serves a page with bad records: the
// good ones load, the bad ones land in meta.rejects with their reason, and
// the summary and the exit code (4) say so.
func TestRejectsAreQuarantinedAndReported(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("offset") != "0" {
			w.Write([]byte("[]"))
			return
		}
		w.Write([]byte(`[{"id":1,"created_date":"2026-07-16T10:00:00-0600","status":{"label":"New"},"invoice":{"last_payment_date":{}}},
			{"id":2,"created_date":"16.07.2026 10:00"},{"ticket_ref":"no id","created_date":"2026-07-16T10:00:00-0600"}]`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	setEnv(t, []string{"TEST_KEY=k-123"})
	cfg := writeConfig(t, dir, "warehouse: ./w.duckdb\naccounts:\n  - name: shop\n    source: mgr\n    base_url: "+srv.URL+"\n    api_key_env: TEST_KEY\n    requests_per_minute: 6000\n    override_documented_limit: true\n    resources: [tickets]\n")
	code, out, stderr := runCLI(t, "run", "--config", cfg)
	if code != exitRejected || !strings.Contains(out, "2 record(s) rejected") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	_, got, _ := runCLI(t, "query", "--config", cfg, "--format", "csv", "--sql",
		`SELECT (SELECT count(*) FROM mgr.tickets) AS loaded, string_agg(coalesce(record_key, '-') || ': ' || reason, ' | ' ORDER BY record_key) AS rejects FROM meta.rejects`)
	want := `loaded,rejects
1,"2: column created_date: ""16.07.2026 10:00"" is not a recognised date-time | -: column id: required field id is missing"`
	if strings.TrimSpace(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSchemaCommandShowsEveryTable(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "schema", "--json")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var tables []struct {
		Name       string   `json:"name"`
		Parent     string   `json:"parent"`
		ArrayPaths []string `json:"array_paths"`
		Key        []string `json:"primary_key"`
		Columns    []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Nullable bool   `json:"nullable"`
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(out), &tables); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, tb := range tables {
		byName[tb.Name] = i
	}
	// Each declared table, and a history beside each that keeps one.
	histories := 0
	for _, tb := range sources.Tables() {
		if tb.HistoryTable != nil {
			histories++
		}
	}
	if len(tables) != len(sources.Tables())+histories || histories != 9 {
		t.Fatalf("%d tables printed, %d declared with %d histories", len(tables), len(sources.Tables()), histories)
	}
	if h := tables[byName["mgr.tickets_history"]]; strings.Join(h.Key, ",") != "account,id,valid_from" || h.Columns[len(h.Columns)-1].Name != "deleted" {
		t.Errorf("history table = %+v", h)
	}
	lines := tables[byName["mgr.ticket_invoice_lines"]]
	if lines.Parent != "mgr.ticket_invoices" || strings.Join(lines.Key, ",") != "account,ticket_invoice_id,line_no" || lines.ArrayPaths[0] != "line_items" {
		t.Errorf("child table = %+v", lines)
	}
	for _, c := range tables[byName["mgr.ticket_invoices"]].Columns {
		if c.Name == "amount_total" && (c.Type != "DECIMAL(18,2)" || !c.Nullable) {
			t.Errorf("amount_total = %+v", c)
		}
	}
	_, text, _ := runCLI(t, "schema")
	if !strings.Contains(text, "lines of mgr.ticket_invoices, from its array line_items | lines | items") {
		t.Errorf("text schema does not describe the child table:\n%s", text)
	}
}

// TestTablesDocIsCurrent keeps docs/tables.md generated from the
// declarations: regenerate it with `make docs`.
func TestTablesDocIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(filepath.Join("..", "..", "docs", "tables.md"))
	if err != nil {
		t.Fatal(err)
	}
	code, got, _ := runCLI(t, "schema", "--markdown")
	if code != exitOK || got != string(want) {
		t.Fatal("docs/tables.md is out of date with the declarations: run `make docs`")
	}
}

// --account runs (and plans) only the named accounts: an hourly cron line
// can drain one shop's backlog beside the nightly run of all of them.
func TestRunOnlySomeAccounts(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(30, 20))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets")
	setEnv(t, env)
	if code, _, stderr := runCLI(t, "run", "--config", cfg, "--account", "south"); code != exitOK {
		t.Fatalf("run --account south: exit %d\n%s", code, stderr)
	}
	if got := queryCSV(t, cfg, `SELECT string_agg(DISTINCT account) FROM mgr.tickets`); got != "south" {
		t.Errorf("accounts loaded: %q, want south only", got)
	}
	for _, r := range srv.Log() {
		if r.Shop != "south" {
			t.Fatalf("a request for %s: %s", r.Shop, r.Path)
		}
	}
	code, out, _ := runCLI(t, "plan", "--config", cfg, "--account", "north", "--json")
	if code != exitOK || !strings.Contains(out, `"north"`) || strings.Contains(out, `"south"`) {
		t.Errorf("plan --account north: exit %d\n%s", code, out)
	}
	if code, _, stderr := runCLI(t, "run", "--config", cfg, "--account", "west"); code != exitUsage || !strings.Contains(stderr, `"west"`) || !strings.Contains(stderr, "north, south") {
		t.Errorf("unknown account: exit %d, %q; want 2 naming the configured ones", code, stderr)
	}
}

// --from-parquet needs published files: without a parquet root in the
// config, or with nothing published under it, it says so.
func TestQueryFromParquetNeedsPublishedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := "warehouse: ./w.duckdb\naccounts:\n  - name: north\n    source: mgr\n    api_key_env: TEST_UNSET_KEY_VAR\n"
	for _, tc := range []struct{ config, want string }{
		{base, "needs a config whose `parquet:`"},
		{"parquet: ./pq\n" + base, "no published tables under"},
	} {
		cfg := writeConfig(t, dir, tc.config)
		code, _, stderr := runCLI(t, "query", "--config", cfg, "--from-parquet", "--sql", "SELECT 1")
		if code == exitOK || !strings.Contains(stderr, tc.want) {
			t.Errorf("exit %d, %q; want a failure saying %q", code, stderr, tc.want)
		}
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	t.Parallel()
	app := newApp(io.Discard, io.Discard, nil)
	for _, tc := range []struct{ in, want string }{
		{"repairshop-export query turnaround --from 2026-01-01 --format csv", "repairshop-export query --from 2026-01-01 --format csv turnaround"},
		{"repairshop-export query turnaround --list", "repairshop-export query --list turnaround"}, // a bool flag takes no value
		{"repairshop-export query turnaround --to=2026-02-01 --account a", "repairshop-export query --to=2026-02-01 --account a turnaround"},
		{"repairshop-export query --sql x -- --not-a-flag", "repairshop-export query --sql x -- --not-a-flag"},
		{"export nosuch a --b", "export nosuch a --b"},
		{"export", "export"},
	} {
		if got := strings.Join(cliargs.FlagsFirst(app, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
	cfg := writeConfig(t, t.TempDir(), "warehouse: w.duckdb\n")
	if code, _, stderr := runCLI(t, "query", "nosuch", "--config", cfg); code != exitUsage || !strings.Contains(stderr, "turnaround") {
		t.Errorf("a flag after the query's name: exit %d, %s; want the usage error listing the queries", code, stderr)
	}
}

func TestEveryCommandsHelpHasAnExampleAndTheExitCodes(t *testing.T) {
	t.Parallel()
	for _, c := range newApp(io.Discard, io.Discard, nil).Commands {
		if c.Name == "help" {
			continue
		}
		code, out, stderr := runCLI(t, c.Name, "--help")
		if code != exitOK || !strings.Contains(out, "EXAMPLE") || !strings.Contains(out, "EXIT CODES") || !strings.Contains(out, "export "+c.Name) {
			t.Errorf("export %s --help: exit %d, no example or exit codes:\n%s%s", c.Name, code, out, stderr)
		}
	}
}
