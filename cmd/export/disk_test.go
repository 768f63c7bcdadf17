package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr/mgrtest"
)

// A disk that fills while the run writes the warehouse file (a file-size
// limit in the child process) is a clear error and exit 1, even for a run
// the rate budget made partial; what was committed stays readable, and
// the next run, with room, completes exact.
func TestAFullDiskIsAFailureAndLosesNothing(t *testing.T) {
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(300, 100))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir)
	setEnv(t, env)
	if code, o, stderr := runCLI(t, "run", "--config", cfg, "--max-requests", "20"); code != exitPartial {
		t.Fatalf("the first, capped run: exit %d\n%s%s", code, o, stderr)
	}
	before, _ := strconv.Atoi(queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`))
	if before == 0 {
		t.Fatal("the first run committed no ticket")
	}
	info, err := os.Stat(filepath.Join(dir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	// A file-size limit a little above the warehouse's size: it cannot
	// grow much. ulimit -f counts blocks: 512 bytes in dash (1024 in
	// bash, a looser limit that still binds).
	blocks := (info.Size() + 64<<10) / 512
	cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -f %d && exec "$0" "$@"`, blocks), os.Args[0], "run", "--config", cfg)
	cmd.Env = append(append(os.Environ(), asBinaryEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure || !strings.Contains(string(out), "File too large") {
		t.Fatalf("a full disk: %v, want exit 1 saying the file could not grow\n%s", err, out)
	}
	// What the first run committed is still there and readable.
	if after, _ := strconv.Atoi(queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`)); after < before {
		t.Errorf("after the failure: %d tickets readable, %d before", after, before)
	}
	if code, o, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("the next run: exit %d\n%s%s", code, o, stderr)
	}
	assertMatchesSimulator(t, srv, cfg)
}
