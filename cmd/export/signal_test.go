package export

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/wiretest"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/present"
)

// awaitPaused waits until a request is held at the paused wire.
func awaitPaused(t *testing.T, w *wiretest.Wire) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := w.AwaitPaused(ctx, 1); err != nil {
		t.Fatalf("no request reached the paused server: %v", err)
	}
}

// SIGTERM (systemd's stop, cron's timeout) or SIGINT (Ctrl-C) stops a run
// within seconds: it commits what is complete, records the run as
// interrupted and exits 3 saying what is left; the next run completes,
// exact. A second signal ends the process at once, and still nothing
// committed is lost: the warehouse opens, and the next run completes.
func TestASignalStopsARunCleanly(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		signals []os.Signal
	}{
		{"SIGTERM", []os.Signal{syscall.SIGTERM}},
		{"SIGINT", []os.Signal{syscall.SIGINT}},
		{"a second signal", []os.Signal{syscall.SIGTERM, syscall.SIGINT}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(400, 200))
			defer srv.Close()
			dir := t.TempDir()
			cfg, env := simConfig(t, srv, dir)
			setEnv(t, env)
			hard := len(c.signals) > 1
			if hard {
				// Something committed to lose: a run that completed.
				if code, o, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
					t.Fatalf("the first run: exit %d\n%s%s", code, o, stderr)
				}
				// The run to stop re-lists what the first one loaded: a few
				// dozen list pages and no details. At 6,000 requests a
				// minute the loader's buffer holds 64 fetched pages
				// (pipeline.PageBufferFor), so on a busy machine every
				// request could be answered before the first checkpoint
				// commits, and none would be left for the paused server to
				// hold. At 1,200 it holds 20: before the first checkpoint
				// commits, its 20 pages, 20 buffered, the pages being
				// prepared and a request or two per account (the next list
				// page is asked for ahead) are all that can be fetched,
				// fewer than the run needs, however fast or slow the
				// machine.
				b, err := os.ReadFile(cfg)
				if err != nil || !strings.Contains(string(b), "requests_per_minute: 6000") {
					t.Fatalf("no pace of 6000 to lower in the config (%v):\n%s", err, b)
				}
				if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), "requests_per_minute: 6000", "requests_per_minute: 1200")), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The signal comes once the run has committed a checkpoint
			// (its log says so) and while a request is unanswered (the
			// server holds every request from then on): a run stopped
			// mid-work, on any machine, however fast or slow.
			cmd, out := startExport(t, env, "run", "--config", cfg, "--log-format", "json", "--log-level", "debug")
			out.waitFor(t, pipeline.CheckpointCommitted)
			resume := srv.Wire.Pause()
			defer resume()
			awaitPaused(t, srv.Wire)
			start := time.Now()
			for i, sig := range c.signals {
				if i > 0 {
					// The second signal once the first has been taken:
					// extraction has stopped and the run is winding
					// down (committing what is complete, publishing).
					out.waitFor(t, `"extract stopped"`)
				}
				cmd.Process.Signal(sig)
			}
			err := cmd.Wait()
			took := time.Since(start)
			// Bounds far beyond any machine's time to commit what is
			// complete, and far below the held request's: it stopped
			// because of the signal, not because the server gave in.
			if limit := map[int]time.Duration{1: time.Minute, 2: 30 * time.Second}[len(c.signals)]; took > limit {
				t.Errorf("the run took %s to stop (want under %s)", took, limit)
			}
			var ee *exec.ExitError
			switch {
			case err == nil:
				t.Fatalf("the run finished in spite of the signal\n%s", out)
			case len(c.signals) == 1:
				if !errors.As(err, &ee) || ee.ExitCode() != exitPartial || !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "left for the next run") {
					t.Errorf("%v, want exit 3 saying what is left\n%s", err, out)
				}
				if got := queryCSV(t, cfg, `SELECT status FROM meta.runs ORDER BY started_at DESC LIMIT 1`); got != "interrupted" {
					t.Errorf("the run is recorded %s", got)
				}
				// --log-format json: every line of stderr is JSON to the
				// end, and the last one names the signal, cause first.
				lines := strings.Split(strings.TrimSpace(cmd.stderr.String()), "\n")
				for _, l := range lines {
					if !json.Valid([]byte(l)) {
						t.Errorf("a line of the JSON log is not JSON: %q", l)
					}
				}
				var last struct {
					Level, Msg string
					Code       int `json:"exit_code"`
				}
				json.Unmarshal([]byte(lines[len(lines)-1]), &last)
				if want := "interrupted by " + c.name; last.Level != "ERROR" || !strings.HasPrefix(last.Msg, want) || last.Code != exitPartial || strings.Contains(last.Msg, "rate budget") || len([]rune(last.Msg)) > present.ErrorMax {
					t.Errorf("the last line is %+v; want an ERROR starting %q, exit_code 3, at most %d characters, no rate budget", last, want, present.ErrorMax)
				}
			}
			resume()
			if hard {
				// The data did not change: what the first run committed
				// is still all there, and nothing half-written shows.
				assertMatchesSimulator(t, srv, cfg)
			} else if n := queryCSV(t, cfg, `SELECT rows_inserted FROM meta.runs ORDER BY started_at DESC LIMIT 1`); n == "0" {
				t.Error("nothing was committed before the signal")
			}
			t.Logf("%v, %s after the first signal", err, took.Round(time.Millisecond))
			if code, o, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
				t.Fatalf("the next run: exit %d\n%s%s", code, o, stderr)
			}
			assertMatchesSimulator(t, srv, cfg)
		})
	}
}
