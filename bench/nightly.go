package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// nightlyRun is a rebuild of many nightly runs of a few small shops — the
// archive a shop's year leaves — against the runs' own time: replaying
// what the runs fetched, with no network, should not take longer than
// the runs took to fetch and load it.
type nightlyRun struct {
	Runs        int     `json:"runs"`
	RunsSeconds float64 `json:"runs_seconds"` // the runs' wall time, summed
	Seconds     float64 `json:"rebuild_seconds"`
	PerRun      float64 `json:"rebuild_seconds_per_run"`
	PeakRSS     int64   `json:"rebuild_peak_rss_bytes"`
	Ratio       float64 `json:"rebuild_over_runs"`
}

// nightly runs `repairshop-export run` n times against the simulators' four
// default shops at full speed (each run after the first an incremental one,
// as nights are), then `repairshop-export rebuild` of their archive.
func (b *bench) nightly(ctx context.Context, n int) (nightlyRun, error) {
	r := nightlyRun{Runs: n}
	dir, err := os.MkdirTemp("", "bench-nightly-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	sim, err := startSimulator(b.bin, dir, "--rate", "100000000", "--repairops-rate", "100000000")
	if err != nil {
		return r, err
	}
	defer sim.stop()
	cfg := filepath.Join(dir, "sim.yaml")
	for i := range n {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		took, _, _, err := child(b.bin, sim.env, "run", "--config", cfg)
		if err != nil {
			return r, fmt.Errorf("run %d of %d: %w", i+1, n, err)
		}
		r.RunsSeconds += took.Seconds()
	}
	took, rss, _, err := child(b.bin, sim.env, "rebuild", "--config", cfg)
	if err != nil {
		return r, fmt.Errorf("rebuild of %d runs: %w", n, err)
	}
	r.Seconds, r.PeakRSS = took.Seconds(), rss
	r.PerRun = r.Seconds / float64(n)
	r.Ratio = r.Seconds / r.RunsSeconds
	return r, nil
}
