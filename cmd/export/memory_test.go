package export

import (
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/load"
)

// One run of both sources at the demo's size, unthrottled: checkpoints
// grow to load.CheckpointRows and touch every table of both sources at
// once, and the warehouse is small, so DuckDB runs at its memory floor
// (load.MinMemoryLimit). Every table still lands exact. (At half the floor
// a checkpoint of every table does not fit: each table a transaction
// writes holds a few MB of DuckDB state whatever its rows.)
func TestBothSourcesFitTheMemoryFloor(t *testing.T) {
	t.Parallel()
	mgrSrv := mgrtest.NewServer(mgrtest.WithRateLimit(1_000_000, time.Minute), mgrtest.WithTickets(700, 500))
	defer mgrSrv.Close()
	roSrv := repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(600))
	defer roSrv.Close()
	dir := t.TempDir()
	text, _ := bothSources(t, mgrSrv, roSrv, "")
	cfg := writeConfig(t, dir, text)
	// The floor applies (no EXPORT_MEMORY_LIMIT), and DuckDB's own
	// number of threads (each holds memory of its own), and checkpoints as
	// large as a run makes them.
	run, out := startExport(t, []string{"EXPORT_MEMORY_LIMIT=", load.ThreadsEnv + "=", checkpointEnv + "="}, "run", "--config", cfg)
	if err := run.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	assertMatchesSimulator(t, mgrSrv, cfg)
	assertMatchesRepairOps(t, roSrv, cfg)
}
