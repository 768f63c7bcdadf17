package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/schema"
)

// asBinaryEnv makes the test binary behave as the export command, so crash
// tests can run (and kill) a real `repairshop-export run` process.
const asBinaryEnv = "EXPORT_TEST_AS_BINARY"

var ctx = context.Background()

func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" {
		os.Exit(Main())
	}
	// Budget ledgers go to a scratch directory, not the user's state
	// directory; child processes inherit it.
	state, err := os.MkdirTemp("", "export-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("EXPORT_STATE_DIR", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

// simConfig writes a config for the simulator's shops under dir, limited to
// the given resources (none: all); it returns the config path and the
// environment holding the keys.
func simConfig(t *testing.T, srv *mgrtest.Server, dir string, resources ...string) (string, []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("warehouse: ./w.duckdb\nparquet: ./pq\naccounts:\n")
	var env []string
	for _, sh := range srv.Shops {
		name := "TEST_MGR_" + strings.ToUpper(sh.Name) + "_KEY"
		env = append(env, name+"="+sh.Key)
		fmt.Fprintf(&b, "  - name: %s\n    source: mgr\n    base_url: %s\n    api_key_env: %s\n    requests_per_minute: 6000\n    override_documented_limit: true\n", sh.Name, srv.URL, name)
		if len(resources) > 0 {
			fmt.Fprintf(&b, "    resources: [%s]\n", strings.Join(resources, ", "))
		}
	}
	return writeConfig(t, dir, b.String()), env
}

// exportBinary is the export command as a program: the binary make test
// builds (EXPORT_TEST_BINARY), or else this test binary (asBinaryEnv). The
// processes the tests start and kill run the built binary when there is
// one: the race detector makes the test binary's processes several times
// slower, and the same code runs in-process, under it, in the other tests.
func exportBinary() string {
	if b := os.Getenv("EXPORT_TEST_BINARY"); b != "" {
		return b
	}
	return os.Args[0]
}

// startExport starts the export command as a separate process.
func startExport(t *testing.T, env []string, args ...string) (*proc, *output) {
	t.Helper()
	cmd := exec.Command(exportBinary(), args...)
	cmd.Env = append(append(append(os.Environ(), asBinaryEnv+"=1", checkpointEnv+"=5"), testVars(t)...), env...)
	out, stderr := newOutput(), newOutput()
	cmd.Stdout, cmd.Stderr = out, io.MultiWriter(out, stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{Cmd: cmd, done: make(chan struct{}), stderr: stderr}
	go func() {
		p.err = cmd.Wait()
		out.close()
		close(p.done)
	}()
	return p, out
}

// proc is a started process; Wait may be called any number of times.
type proc struct {
	*exec.Cmd
	done   chan struct{}
	err    error
	stderr *output // what it wrote to stderr alone (the output has both)
}

// Wait waits for the process to end and returns how it ended.
func (p *proc) Wait() error {
	<-p.done
	return p.err
}

// output is what a process writes, as it writes it: a test waits for a
// line that says something happened (an event) rather than for a time a
// slower machine would not keep.
type output struct {
	mu     sync.Mutex
	b      strings.Builder
	grew   chan struct{} // closed and replaced on every write
	closed bool
}

func newOutput() *output { return &output{grew: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	close(o.grew)
	o.grew = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// close says the process has ended: nothing more will come.
func (o *output) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	close(o.grew)
	o.grew = make(chan struct{})
}

// waitFor waits until the output holds s. It fails the test if the
// process ends first, or after patience: a bound no machine comes near,
// there only so that a broken test ends.
func (o *output) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(patience)
	for {
		o.mu.Lock()
		text, closed, grew := o.b.String(), o.closed, o.grew
		o.mu.Unlock()
		switch {
		case strings.Contains(text, s):
			return
		case closed:
			t.Fatalf("the process ended without printing %q:\n%s", s, text)
		}
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("no %q after %s:\n%s", s, patience, text)
		}
	}
}

// eventually waits until cond holds, looking every few milliseconds; it
// fails the test after patience.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, patience)
		}
	}
}

// patience bounds a wait for something a test is sure will happen: long
// enough for any machine (a slow one, under the race detector, beside a
// CPU-burning neighbour), short enough that a broken test still ends.
const patience = 5 * time.Minute

func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// businessColumns are a table's columns without the bookkeeping that
// legitimately differs between two runs over the same data (when a row
// was extracted; which run, and from when, a history version is valid).
func businessColumns(t *schema.Table) string {
	var cols []string
	for _, c := range t.Columns {
		switch c.Name {
		case schema.ColExtractedAt, schema.ColRunID, schema.ColValidFrom, schema.ColValidTo:
		default:
			cols = append(cols, load.Quote(c.Name))
		}
	}
	return strings.Join(cols, ", ")
}

// TestKillAnywhereConverges kills a real `repairshop-export run` with SIGKILL at every
// crash point (mid-transaction, after a commit, between archive and stage,
// mid-publish) and at random moments, then lets one run finish: the
// warehouse and the Parquet files must equal those of one uninterrupted run.
func TestKillAnywhereConverges(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(330, 170))
	defer srv.Close()

	refDir, crashDir := t.TempDir(), t.TempDir()
	refCfg, env := simConfig(t, srv, refDir, "tickets")
	crashCfg, _ := simConfig(t, srv, crashDir, "tickets")

	cmd, out := startExport(t, env, "run", "--config", refCfg)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}

	points := []string{
		pipeline.HookArchived + "#3",
		load.HookBeforeCommit + "#1",
		load.HookAfterCommit + "#2",
		pipeline.HookArchived + "#4",
		load.HookBeforeRename + "#2",
		load.HookAfterRename + "#1",
		load.HookBeforeManifest + "#1",
	}
	// What a reader sees right after a crash: every file whole and readable.
	reader, err := load.Open(ctx, filepath.Join(t.TempDir(), "reader.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	readable := func(after string) {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(crashDir, "pq", "mgr", "tickets", "*", "*", "*", "*.parquet"))
		for _, f := range files {
			if _, err := reader.Query(ctx, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s')`, f)); err != nil {
				t.Errorf("after a crash at %s, %s is unreadable: %v", after, f, err)
			}
		}
	}
	interrupted := 0
	for _, p := range points {
		cmd, out := startExport(t, append(env, crashEnv+"="+p), "run", "--config", crashCfg)
		err := cmd.Wait()
		readable(p)
		if !killed(err) {
			// The point may not be reached when earlier runs left little to
			// do; that run then finished normally.
			if err != nil {
				t.Fatalf("crash at %s: %v\n%s", p, err, out)
			}
			continue
		}
		interrupted++
	}
	for _, after := range []time.Duration{150 * time.Millisecond, 400 * time.Millisecond} {
		cmd, _ := startExport(t, env, "run", "--config", crashCfg)
		time.Sleep(after)
		cmd.Process.Signal(syscall.SIGKILL)
		if killed(cmd.Wait()) {
			interrupted++
		}
	}
	if interrupted < len(points) {
		t.Errorf("only %d of %d crash runs were killed: the crash points are not reached", interrupted, len(points)+2)
	}
	cmd, out = startExport(t, env, "run", "--config", crashCfg)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}

	_, count, diff := compareWarehouses(t, refDir, crashDir)
	for _, tb := range sources.Tables() {
		if n := diff(tb); n != "0" {
			t.Errorf("%s: %s rows differ from the uninterrupted run", tb.FullName(), n)
		}
	}
	if n := count(`SELECT count(*) FROM crashed.mgr.tickets`); n != fmt.Sprint(330+170) {
		t.Errorf("tickets after the crashes = %s, want %d", n, 330+170)
	}
	pq := func(dir string) string {
		return fmt.Sprintf(`SELECT %s FROM read_parquet('%s', hive_partitioning = true)`, businessColumns(mgr.TicketsTable),
			filepath.Join(dir, "pq", "mgr", "tickets", "*", "*", "*", "*.parquet"))
	}
	if n := diffSQL(count, pq(refDir), pq(crashDir)); n != "0" {
		t.Errorf("Parquet: %s rows differ from the uninterrupted run", n)
	}
	if n := diffSQL(count, pq(crashDir), "SELECT "+businessColumns(mgr.TicketsTable)+" FROM crashed.mgr.tickets"); n != "0" {
		t.Errorf("Parquet: %s rows differ from the crashed warehouse's table", n)
	}
	// Killed before the run closed: interrupted. Killed while publishing:
	// ok, rows committed, never marked published. (A timed kill can also
	// land before the run began.)
	var stopped, unpublished int
	fmt.Sscanf(count(`SELECT count(*) FILTER (WHERE status = 'interrupted') || ' ' || count(*) FILTER (WHERE status = 'ok' AND published_at IS NULL) FROM crashed.meta.runs`), "%d %d", &stopped, &unpublished)
	if stopped < 4 || unpublished < 3 || stopped+unpublished > interrupted {
		t.Errorf("meta.runs: %d interrupted, %d ok but unpublished; want ≥ 4 and ≥ 3 from the crash points, %d at most", stopped, unpublished, interrupted)
	}
	if n := count(`SELECT count(*) FROM crashed.meta.publish_queue`); n != "0" {
		t.Errorf("%s partitions still queued after the final run", n)
	}
	temps, _ := filepath.Glob(filepath.Join(crashDir, "pq", "mgr", "*", "*", "*", "*", ".*.tmp"))
	more, _ := filepath.Glob(filepath.Join(crashDir, "pq", "mgr", "*", ".*.tmp"))
	if len(temps)+len(more) > 0 {
		t.Errorf("temporary files left behind: %v %v", temps, more)
	}
}

// TestSecondRunRefusesAtOnce starts a real export process and a second run
// against the same warehouse while it works: the second exits 1 at once,
// naming the holder, and the first finishes untouched.
func TestSecondRunRefusesAtOnce(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(400, 10))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets")
	// The first run holds the warehouse while the server holds its first
	// request, for as long as the test needs.
	resume := srv.Wire.Pause()
	defer resume()
	first, out := startExport(t, env, "run", "--config", cfg)
	awaitPaused(t, srv.Wire)
	wh := filepath.Join(dir, "w.duckdb")
	if !load.Held(wh) {
		t.Fatalf("the first run is asking the API but does not hold the warehouse\n%s", out)
	}
	setEnv(t, env)
	code, _, stderr := runCLI(t, "run", "--config", cfg)
	if code != exitFailure || !strings.Contains(stderr, "in use") || !strings.Contains(stderr, fmt.Sprintf("pid %d", first.Process.Pid)) {
		t.Fatalf("second run: exit %d, %q; want exit 1 naming pid %d", code, stderr, first.Process.Pid)
	}
	// It refused at once: had it waited for the lock it would still be
	// waiting, since the first run cannot finish before resume.
	resume()
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	w, err := load.OpenReadOnly(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := w.Query(ctx, `SELECT count(*) || ' ' || (SELECT count(*) FROM meta.runs) FROM mgr.tickets`)
	if err != nil || res.Rows[0][0] != "410 1" {
		t.Fatalf("after both: %v %v, want 410 tickets from one run", res.Rows, err)
	}
}

// TestQueryWhileARunHoldsTheWarehouse: DuckDB lets no other process open
// the file a run writes, so `repairshop-export query` then answers from the published
// Parquet files, says so, and gives what the warehouse gave before the run.
func TestQueryWhileARunHoldsTheWarehouse(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(60, 10))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets", "customers")
	setEnv(t, env)
	if code, _, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	queries := [][]string{
		{"tickets_by_status_month"},
		{"--sql", "SELECT account, count(*), min(created_date), max(_extra::VARCHAR) FROM mgr.customers GROUP BY ALL ORDER BY ALL"},
	}
	var before []string
	for _, q := range queries {
		code, out, stderr := runCLI(t, append([]string{"query", "--config", cfg, "--format", "csv"}, q...)...)
		if code != exitOK || stderr != "" || strings.Count(out, "\n") < 2 {
			t.Fatalf("query %v: exit %d, %q\n%s", q, code, stderr, out)
		}
		before = append(before, out)
	}

	// A second run that stays busy: the server holds its requests until
	// the queries are done.
	resume := srv.Wire.Pause()
	defer resume()
	run, out := startExport(t, env, "run", "--config", cfg)
	awaitPaused(t, srv.Wire)
	// It has the warehouse open, and waits for the API.
	for i, q := range queries {
		code, got, stderr := runCLI(t, append([]string{"query", "--config", cfg, "--format", "csv"}, q...)...)
		if code != exitOK || got != before[i] {
			t.Errorf("query %v during the run: exit %d\n%s\nwant\n%s\n%s", q, code, got, before[i], stderr)
		}
		if !strings.Contains(stderr, fmt.Sprintf("pid %d", run.Process.Pid)) || !strings.Contains(stderr, "answering from the Parquet files") {
			t.Errorf("query during the run does not say it is answered from the Parquet files: %q", stderr)
		}
	}
	if code, _, stderr := runCLI(t, "query", "--config", cfg, "--sql", "SELECT count(*) FROM meta.runs"); code != exitFailure || !strings.Contains(stderr, "meta.* is in the warehouse only") {
		t.Errorf("meta during the run: exit %d, %q; want a failure that says why", code, stderr)
	}
	resume()
	if err := run.Wait(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if code, _, stderr := runCLI(t, "query", "--config", cfg, "--sql", "SELECT count(*) FROM meta.runs"); code != exitOK || stderr != "" {
		t.Errorf("after the run: exit %d, %q; want the warehouse itself", code, stderr)
	}
	if code, got, stderr := runCLI(t, append([]string{"query", "--config", cfg, "--format", "csv", "--from-parquet"}, queries[0]...)...); code != exitOK || got != before[0] || !strings.Contains(stderr, "answering from the Parquet files") {
		t.Errorf("--from-parquet: exit %d, %q\n%s", code, stderr, got)
	}
}

// TestTwoProcessesShareOneKeysBudget runs two exports at once with the same
// API key into two different warehouses. Each alone paces at 90% of the
// limit, so together they would send 180% of it; through the key's ledger
// they are paced as one client and the server sees no rate-limit error.
func TestTwoProcessesShareOneKeysBudget(t *testing.T) {
	// The limit is 30 requests in 3 seconds here, so the test takes
	// seconds; the config says 600 per minute, the same rate. (A 1-second
	// window left a slack of one request: under a loaded machine two
	// requests a scheduler held back arrived together and made it 11.)
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(30, 3*time.Second), mgrtest.WithTickets(1000, 10))
	defer srv.Close()
	sh := srv.Shop("north")
	var cmds []*proc
	var outs []*output
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, fmt.Sprintf("warehouse: ./w.duckdb\naccounts:\n  - name: north\n    source: mgr\n    base_url: %s\n    api_key_env: SHARED_KEY\n    requests_per_minute: 600\n    override_documented_limit: true\n    resources: [tickets]\n", srv.URL))
		cmd, out := startExport(t, []string{"SHARED_KEY=" + sh.Key}, "run", "--config", cfg)
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	if n := srv.RateLimitErrors("north"); n != 0 {
		t.Fatalf("%d rate-limit errors with two processes on one key", n)
	}
	if got := len(srv.Log()); got < 2*(1000/50+1) {
		t.Fatalf("server saw %d requests, want both full listings", got)
	}
}

// compareWarehouses opens the warehouse under refDir with the one under
// otherDir attached as "crashed". count runs a one-value query; diff counts
// the rows of a table (business columns) that differ between the two.
func compareWarehouses(t *testing.T, refDir, otherDir string) (*load.Warehouse, func(string) string, func(*schema.Table) string) {
	t.Helper()
	w, err := load.OpenReadOnly(ctx, filepath.Join(refDir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if _, err := w.Query(ctx, fmt.Sprintf(`ATTACH '%s' AS crashed (READ_ONLY)`, filepath.Join(otherDir, "w.duckdb"))); err != nil {
		t.Fatal(err)
	}
	count := func(q string) string {
		t.Helper()
		res, err := w.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res.Rows[0][0]
	}
	diff := func(tb *schema.Table) string {
		cols := businessColumns(tb)
		return diffSQL(count, fmt.Sprintf("SELECT %s FROM %s.%s", cols, tb.Source, tb.Name), fmt.Sprintf("SELECT %s FROM crashed.%s.%s", cols, tb.Source, tb.Name))
	}
	return w, count, diff
}

// diffSQL counts the rows in one query's result and not the other's, both ways.
func diffSQL(count func(string) string, a, b string) string {
	return count(fmt.Sprintf(`SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s))`, a, b, b, a))
}
