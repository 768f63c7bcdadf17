package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	dto "github.com/prometheus/client_model/go"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/outcome"
)

// metric finds one sample by its labels (nil: none).
func metric(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		match := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match == len(labels) {
			return m
		}
	}
	return nil
}

func gaugeOf(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := metric(fams, name, labels)
	if m == nil {
		t.Fatalf("metric %s%v is missing", name, labels)
	}
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// Under cron (stderr not a terminal): JSON log lines, each about an
// account naming it and its source, no progress display; the summary as
// JSON (file and stdout) and Prometheus metrics that parse back, with the
// simulator's own counts; after a failed run the metrics are there too,
// saying so, and the last success is kept.
func TestCronGetsJSONLogsASummaryAndMetrics(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(60, 30))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets", "customers")
	setEnv(t, env)
	sumPath, prom := filepath.Join(dir, "summary.json"), filepath.Join(dir, "export.prom")

	code, out, stderr := runCLI(t, "run", "--config", cfg, "--summary-json", sumPath, "--metrics-file", prom)
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(stderr, "\x1b[") || regexp.MustCompile(`\d+ ?%`).MatchString(stderr) {
		t.Errorf("progress drawn on a non-terminal:\n%s", stderr)
	}
	accountLines := 0
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["account"] != nil {
			accountLines++
			if src, _ := rec["source"].(string); src != "mgr" {
				t.Errorf("a line about account %v has source %v: %s", rec["account"], rec["source"], line)
			}
		}
	}
	if accountLines == 0 {
		t.Errorf("no log line names an account:\n%s", stderr)
	}

	requests := map[string]int{}
	for _, r := range srv.Log() {
		requests[r.Shop]++
	}
	b, err := os.ReadFile(sumPath)
	if err != nil {
		t.Fatal(err)
	}
	var sum outcome.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, b)
	}
	if sum.Status != "ok" || sum.ExitCode != 0 || len(sum.Accounts) != len(srv.Shops) {
		t.Fatalf("summary: %s", b)
	}
	fams, err := outcome.ParseMetrics(prom)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	for _, a := range sum.Accounts {
		sh := srv.Shop(a.Account)
		if a.Status != "ok" || a.Requests != int64(requests[a.Account]) {
			t.Errorf("%s: status %s, %d requests; the simulator answered %d", a.Account, a.Status, a.Requests, requests[a.Account])
		}
		var tickets int64 = -1
		for _, tb := range a.Tables {
			if tb.Table == "mgr.tickets" {
				tickets = tb.Inserted
			}
		}
		if tickets != int64(sh.Tickets()) {
			t.Errorf("%s: summary says %d tickets inserted; the shop has %d", a.Account, tickets, sh.Tickets())
		}
		l := map[string]string{"account": a.Account, "source": "mgr"}
		if got := gaugeOf(t, fams, outcome.MetricRows, map[string]string{"account": a.Account, "table": "mgr.tickets", "change": "inserted"}); got != float64(sh.Tickets()) {
			t.Errorf("%s: metric rows inserted %v, want %d", a.Account, got, sh.Tickets())
		}
		if got := gaugeOf(t, fams, outcome.MetricRequests, l); got != float64(requests[a.Account]) {
			t.Errorf("%s: metric requests %v, want %d", a.Account, got, requests[a.Account])
		}
		if gaugeOf(t, fams, outcome.MetricOK, l) != 1 || gaugeOf(t, fams, outcome.MetricPartial, l) != 0 {
			t.Errorf("%s: not marked a success", a.Account)
		}
		if s, e := gaugeOf(t, fams, outcome.MetricSuccess, l), gaugeOf(t, fams, outcome.MetricEnd, l); s != e || s < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("%s: last success %v, run end %v", a.Account, s, e)
		}
		gaugeOf(t, fams, outcome.MetricRateSignals, l)
	}
	if gaugeOf(t, fams, outcome.MetricExitCode, map[string]string{"command": "run"}) != 0 {
		t.Error("exit code metric is not 0")
	}
	firstSuccess := gaugeOf(t, fams, outcome.MetricSuccess, map[string]string{"account": "north"})

	// --json: the same summary on stdout, nothing else.
	code, out, _ = runCLI(t, "run", "--config", cfg, "--json")
	var again outcome.Summary
	if err := json.Unmarshal([]byte(out), &again); code != exitOK || err != nil || again.RunID == "" || again.RunID == sum.RunID {
		t.Errorf("--json: exit %d, %v: %q", code, err, out)
	}

	// A failed run: north's key is refused.
	setEnv(t, []string{strings.SplitN(env[0], "=", 2)[0] + "=not-the-key"})
	code, _, stderr = runCLI(t, "run", "--config", cfg, "--metrics-file", prom, "--log-format", "text")
	if code != exitFailure {
		t.Fatalf("a refused key: exit %d, want 1\n%s", code, stderr)
	}
	if strings.HasPrefix(stderr, "{") || !strings.Contains(stderr, "account=north") {
		t.Errorf("--log-format text: %s", stderr)
	}
	if fams, err = outcome.ParseMetrics(prom); err != nil {
		t.Fatalf("metrics after a failed run: %v", err)
	}
	north := map[string]string{"account": "north", "source": "mgr"}
	if gaugeOf(t, fams, outcome.MetricOK, north) != 0 || gaugeOf(t, fams, outcome.MetricExitCode, map[string]string{"command": "run"}) != 1 {
		t.Error("the failed run is not marked failed in the metrics")
	}
	if got := gaugeOf(t, fams, outcome.MetricSuccess, north); got < firstSuccess || got > gaugeOf(t, fams, outcome.MetricStart, north) {
		t.Errorf("north's last success %v: want the earlier run's (≥ %v), before this run", got, firstSuccess)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.prom*")); len(matches) != 1 {
		t.Errorf("files beside the metrics: %v (a temporary file left?)", matches)
	}

	if code, _, stderr := runCLI(t, "run", "--config", cfg, "--log-format", "xml"); code != exitUsage || !strings.Contains(stderr, "json") {
		t.Errorf("--log-format xml: exit %d %s", code, stderr)
	}
}

// runOnATerminal runs the export with stderr on a pseudo-terminal and
// returns what the terminal showed and stdout.
func runOnATerminal(t *testing.T, env []string, args ...string) (string, string) {
	t.Helper()
	screen, stdout, err := onATerminal(t, env, nil, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s\n%s", args, err, stdout, screen)
	}
	return screen, stdout
}

// exitCodeOf is a finished process's exit code (0 for nil).
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// onATerminal runs the command on a pseudo-terminal, calls during (if
// set) with the process once the screen shows its first bar, and returns
// the screen, stdout and how the process ended.
func onATerminal(t *testing.T, env []string, during func(*exec.Cmd), args ...string) (string, string, error) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, exportBinary(), args...)
	cmd.Env = append(append(append(os.Environ(), asBinaryEnv+"=1", "TERM=xterm"), testVars(t)...), env...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	screen := newOutput()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(screen, bufio.NewReader(ptmx))
		done <- err
	}()
	if during != nil {
		screen.waitFor(t, " req")
		during(cmd)
	}
	werr := cmd.Wait()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, syscall.EIO) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal never closed")
	}
	return screen.String(), stdout.String(), werr
}

// On a terminal, the run draws a bar per account that reaches 100 %;
// --no-progress draws none.
func TestProgressOnATerminalReachesFull(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(600, time.Minute), mgrtest.WithTickets(60, 30))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets", "customers")
	text, stdout := runOnATerminal(t, env, "run", "--config", cfg)

	for _, sh := range srv.Shops {
		if !strings.Contains(text, sh.Name+" (mgr)") {
			t.Errorf("no bar for %s:\n%s", sh.Name, text)
		}
	}
	if n := regexp.MustCompile(`100 %`).FindAllStringIndex(text, -1); len(n) < len(srv.Shops) {
		t.Errorf("%d bar(s) at 100 %%, want %d:\n%s", len(n), len(srv.Shops), text)
	}
	if !strings.Contains(text, " req") || !strings.Contains(text, "rows") {
		t.Errorf("no requests and rows beside the bars:\n%s", text)
	}
	if strings.Contains(text, `{"time"`) {
		t.Errorf("JSON logs on a terminal:\n%s", text)
	}
	if !strings.Contains(stdout, "run ") {
		t.Errorf("no report on stdout: %s", stdout)
	}

	// Ctrl-C mid-run: the bars stop where they were and say so.
	resume := srv.Wire.Pause()
	text, _, err := onATerminal(t, env, func(cmd *exec.Cmd) {
		awaitPaused(t, srv.Wire)
		cmd.Process.Signal(os.Interrupt)
	}, "run", "--config", cfg, "--max-requests", "1000")
	resume()
	if code := exitCodeOf(err); code != exitPartial || strings.Contains(text, "100 %") || !strings.Contains(text, "· interrupted") || !strings.Contains(text, "interrupted by SIGINT") {
		t.Errorf("Ctrl-C: exit %d; want 3, bars not at 100 %% saying \"interrupted\", and \"interrupted by SIGINT\":\n%s", code, text)
	}
	text, _ = runOnATerminal(t, env, "run", "--config", cfg, "--no-progress")
	if strings.Contains(text, " %") || strings.Contains(text, "(mgr)  [") || !strings.Contains(text, "level=INFO") {
		t.Errorf("--no-progress on a terminal: bars, or no text logs:\n%s", text)
	}
}
