package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/repairshop/export/load"
)

// accountsRun is one `repairshop-export run` of many accounts (half MGR
// shops, half RepairOps organisations) into one new warehouse, from the
// simulators at full speed: how the cost grows with the accounts.
type accountsRun struct {
	Accounts    int     `json:"accounts"`
	TicketsEach int     `json:"tickets_each"`
	Rows        int64   `json:"rows"` // every row the run inserted, all tables
	Requests    int64   `json:"requests"`
	Seconds     float64 `json:"seconds"`
	RowsPerSec  float64 `json:"rows_per_second"`
	PeakRSS     int64   `json:"peak_rss_bytes"`
}

// accounts runs each count of accounts with tickets tickets each.
func (b *bench) accountsRuns(ctx context.Context, counts []int) ([]accountsRun, error) {
	tickets := b.accountTickets
	var out []accountsRun
	for _, n := range counts {
		fmt.Fprintf(os.Stderr, "bench: %d accounts of %d tickets into one warehouse…\n", n, tickets)
		r, err := b.accountsOnce(ctx, n, tickets)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *bench) accountsOnce(ctx context.Context, n, tickets int) (accountsRun, error) {
	r := accountsRun{Accounts: n, TicketsEach: tickets}
	dir, err := os.MkdirTemp("", "bench-accounts-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	each := func(k int) string { return strings.TrimSuffix(strings.Repeat(fmt.Sprint(tickets)+",", k), ",") }
	sim, err := startSimulator(b.bin, dir, "--rate", "100000000", "--repairops-rate", "100000000",
		"--tickets", each(n/2), "--repairops-tickets", each(n-n/2))
	if err != nil {
		return r, err
	}
	defer sim.stop()
	cfg := filepath.Join(dir, "sim.yaml")
	took, rss, _, err := child(b.bin, sim.env, "run", "--config", cfg)
	if err != nil {
		return r, err
	}
	r.Seconds, r.PeakRSS = took.Seconds(), rss
	w, err := load.OpenReadOnly(ctx, filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		return r, err
	}
	defer w.Close()
	res, err := w.Query(ctx, `SELECT sum(rows_inserted)::BIGINT, sum(requests)::BIGINT FROM meta.runs WHERE kind = 'export'`)
	if err != nil {
		return r, err
	}
	fmt.Sscan(fmt.Sprint(res.Rows[0][0]), &r.Rows)
	fmt.Sscan(fmt.Sprint(res.Rows[0][1]), &r.Requests)
	r.RowsPerSec = float64(r.Rows) / r.Seconds
	return r, nil
}
