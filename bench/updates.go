package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/internal/atomicfile"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/transform"
)

// updatesRun is a nightly's worth of changes into a big warehouse: rounds
// of a run that stages 2,000 changed tickets, ids spread evenly over the
// rebuilt warehouse's, and checkpoints them. A checkpoint's cost for the
// same changes should not grow with the table they land in.
type updatesRun struct {
	Tickets      int     `json:"tickets"`
	Changed      int     `json:"changed"`
	CheckpointMs float64 `json:"checkpoint_median_ms"`
}

const (
	updatesChanged = 2000
	updatesRounds  = 5
)

// spreadUpdates measures updatesRun on a copy of the warehouse in dir (a
// rebuild of n generated tickets: ids 100000 to 100000+n-1).
func spreadUpdates(ctx context.Context, dir string, n int) (updatesRun, error) {
	r := updatesRun{Tickets: n, Changed: updatesChanged}
	path := filepath.Join(dir, "updates.duckdb")
	if err := copyFile(filepath.Join(dir, "w.duckdb"), path); err != nil {
		return r, err
	}
	defer os.Remove(path)
	defer os.Remove(path + ".wal")
	w, err := openTickets(ctx, path)
	if err != nil {
		return r, err
	}
	defer w.Close()
	t := mgr.TicketsTable
	var took []float64
	for round := 1; round <= updatesRounds; round++ {
		at := time.Date(2026, 12, 1, 2, round, 0, 0, time.UTC)
		runID := at.Format(load.RunIDLayout) + fmt.Sprintf("-bench%d", round)
		if err := w.BeginRun(ctx, runID, load.KindExport, at); err != nil {
			return r, err
		}
		page := make([]map[string]any, 0, 50)
		for k := range updatesChanged {
			i := k*(n/updatesChanged) + round // spread over the table, another ticket each round
			page = append(page, map[string]any{
				"id": 100000 + i, "ticket_ref": fmt.Sprintf("N-%07d", i),
				"description":  fmt.Sprintf("changed in round %d", round),
				"created_date": "2025-06-01T10:00:00-0600", "last_updated": at.Format("2006-01-02T15:04:05-0700"),
				"status":     map[string]any{"id": 105, "label": "Completed"},
				"issue_type": map[string]any{"id": 201, "label": "Battery"},
				"customer":   map[string]any{"id": "c000001", "name": "Customer 1"},
				"device":     map[string]any{"brand": "Apple", "model": "iPhone 13", "imei": "350000000000001"},
				"technician": nil, "invoice": map[string]any{}, "source": "web",
			})
			if len(page) < cap(page) && k < updatesChanged-1 {
				continue
			}
			body, _ := json.Marshal(page)
			rec, err := transform.Page(t, body, transform.Meta{Account: "north", RunID: runID, ExtractedAt: at}, nil)
			if err != nil {
				return r, err
			}
			err = w.Stage(ctx, "north", rec)
			rec.Release()
			if err != nil {
				return r, err
			}
			page = page[:0]
		}
		start := time.Now()
		if err := w.Checkpoint(ctx, runID, at); err != nil {
			return r, err
		}
		took = append(took, float64(time.Since(start).Microseconds())/1000)
		sum, err := w.Finish(ctx, runID, at.Add(time.Minute), load.StatusOK, nil, "")
		if err != nil {
			return r, err
		}
		if got := sum.Totals().Updated; got != updatesChanged {
			return r, fmt.Errorf("round %d updated %d tickets, want %d", round, got, updatesChanged)
		}
	}
	slices.Sort(took)
	r.CheckpointMs = took[len(took)/2]
	return r, nil
}

// updatesGrowth is the largest table's checkpoint over the smallest's:
// the same changes into a table four times larger (1M against 250k)
// should cost about the same, and at most double.
func updatesGrowth(u []updatesRun) float64 {
	return u[len(u)-1].CheckpointMs / u[0].CheckpointMs
}

// openTickets opens a rebuilt warehouse that knows mgr.tickets.
func openTickets(ctx context.Context, path string) (*load.Warehouse, error) {
	w, err := load.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := w.Ensure(ctx, mgr.TicketsTable); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// copyFile copies a warehouse file, through the project's atomic writer.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(to, 0o644, func(out io.Writer) error {
		_, err := io.Copy(out, in)
		return err
	})
}
