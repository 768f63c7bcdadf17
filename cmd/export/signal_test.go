package main

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr/mgrtest"
)

// SIGTERM (systemd's stop, cron's timeout) stops a run within seconds: it
// commits what is complete, records the run as interrupted and exits 3
// saying what is left; the next run completes, exact. A second signal
// ends the process at once, and still nothing committed is lost.
func TestASignalStopsARunCleanly(t *testing.T) {
	for _, signals := range []int{1, 2} {
		srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(400, 200))
		dir := t.TempDir()
		cfg, env := simConfig(t, srv, dir)
		setEnv(t, env)
		cmd, out := startExport(t, env, "run", "--config", cfg)
		time.Sleep(1500 * time.Millisecond)
		start := time.Now()
		cmd.Process.Signal(syscall.SIGTERM)
		if signals == 2 {
			time.Sleep(50 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGTERM)
		}
		err := cmd.Wait()
		took := time.Since(start)
		if limit := map[int]time.Duration{1: 5 * time.Second, 2: time.Second}[signals]; took > limit {
			t.Errorf("%d signal(s): the run took %s to stop (want under %s)", signals, took, limit)
		}
		var ee *exec.ExitError
		switch {
		case err == nil:
			t.Fatalf("%d signal(s): the run finished before the signal; make it longer\n%s", signals, out)
		case signals == 1:
			if !errors.As(err, &ee) || ee.ExitCode() != exitPartial || !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "left for the next run") {
				t.Errorf("one signal: %v, want exit 3 saying what is left\n%s", err, out)
			}
			if got := queryCSV(t, cfg, `SELECT status FROM meta.runs ORDER BY started_at DESC LIMIT 1`); got != "interrupted" {
				t.Errorf("the run is recorded %s", got)
			}
			if n := queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`); n == "0" {
				t.Error("nothing was committed before the signal")
			}
		}
		t.Logf("%d signal(s): %v, %s after the first", signals, err, took.Round(time.Millisecond))
		if code, o, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
			t.Fatalf("%d signal(s): the next run: exit %d\n%s%s", signals, code, o, stderr)
		}
		assertMatchesSimulator(t, srv, cfg)
		srv.Close()
	}
}
