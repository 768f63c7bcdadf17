package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr/mgrtest"
)

// SIGTERM (systemd's stop, cron's timeout) or SIGINT (Ctrl-C) stops a run
// within seconds: it commits what is complete, records the run as
// interrupted and exits 3 saying what is left; the next run completes,
// exact. A second signal ends the process at once, and still nothing
// committed is lost: the warehouse opens, and the next run completes.
func TestASignalStopsARunCleanly(t *testing.T) {
	for _, c := range []struct {
		name    string
		signals []os.Signal
	}{
		{"SIGTERM", []os.Signal{syscall.SIGTERM}},
		{"SIGINT", []os.Signal{syscall.SIGINT}},
		{"a second signal", []os.Signal{syscall.SIGTERM, syscall.SIGINT}},
	} {
		t.Run(c.name, func(t *testing.T) {
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
				// The second run is signalled mid-request: its sixth
				// request stalls past the signals.
				srv.Inject(mgrtest.Fault{Delay: 5, Stall: 1, StallFor: 20 * time.Second})
			}
			cmd, out := startExport(t, env, "run", "--config", cfg)
			time.Sleep(1500 * time.Millisecond)
			start := time.Now()
			for i, sig := range c.signals {
				if i > 0 {
					time.Sleep(50 * time.Millisecond)
				}
				cmd.Process.Signal(sig)
			}
			err := cmd.Wait()
			took := time.Since(start)
			if limit := map[int]time.Duration{1: 5 * time.Second, 2: time.Second}[len(c.signals)]; took > limit {
				t.Errorf("the run took %s to stop (want under %s)", took, limit)
			}
			var ee *exec.ExitError
			switch {
			case err == nil:
				t.Fatalf("the run finished before the signal; make it longer\n%s", out)
			case len(c.signals) == 1:
				if !errors.As(err, &ee) || ee.ExitCode() != exitPartial || !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "left for the next run") {
					t.Errorf("%v, want exit 3 saying what is left\n%s", err, out)
				}
				if got := queryCSV(t, cfg, `SELECT status FROM meta.runs ORDER BY started_at DESC LIMIT 1`); got != "interrupted" {
					t.Errorf("the run is recorded %s", got)
				}
			}
			if hard {
				// The data did not change: what the first run committed
				// is still all there, and nothing half-written shows.
				assertMatchesSimulator(t, srv, cfg)
			} else if n := queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`); n == "0" {
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
