package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// detailRun is detail pages (one document each) through transform, stage
// and checkpoint, at the run's checkpoint cadence.
type detailRun struct {
	Table string `json:"table"`
	Pages int    `json:"pages"`
	// PagesPerSec is at the run's cadence (every 20 pages, at most once a
	// second); Every20 with a checkpoint every 20 pages whatever the time,
	// as when pages come at an API's real pace.
	PagesPerSec float64 `json:"pages_per_second"`
	Every20     float64 `json:"pages_per_second_checkpoint_every_20"`
}

var detailShapes = []struct {
	table *schema.Table
	page  string // %[1]d is the document's number
}{
	{mgr.TicketInvoicesTable, `[{"id":"%[1]d","created_date":"2026-08-03T10:00:00Z","status":"Paid","amount_subtotal":"100.00","amount_tax":"8.88","amount_total":"108.88","amount_paid":"108.88","amount_due":"0.00",
		"line_items":[{"id":"%[1]d-1","name":"Screen","quantity":"1","price":"80.00","total":"80.00"},{"id":"%[1]d-2","name":"Labour","quantity":"0.5","price":"40.00","total":"20.00"}],
		"payments":[{"id":"%[1]d-p","amount":"108.88","method":"Card","date":"2026-08-03T11:00:00Z"}],"ticket":{"ticket_ref":"N-%[1]05d"}}]`},
	{repairops.TicketsTable, `[{"id":"t-%[1]d","number":"T%[1]06d","status":"CLOSED","customer":{"id":"c-1","name":"John Doe"},"device":{"identifier":"iPhone 14 Pro","category":"smartphone"},
		"issue":{"description":"Cracked screen","severity":"high"},"timeline":[{"status":"INTAKE","timestamp":"2026-02-15T10:30:00Z","actor":"Desk"},{"status":"DIAGNOSTICS","timestamp":"2026-02-15T11:00:00Z","actor":"Alice"},
		{"status":"IN_REPAIR","timestamp":"2026-02-16T09:00:00Z","actor":"Alice"},{"status":"CLOSED","timestamp":"2026-02-17T09:00:00Z","actor":"Alice"}],
		"diagnostics":{"findings":"Screen damaged","estimated_cost":259.99,"recommended_parts":["Screen"]},"labor":{"hours":1.5,"rate":65.00,"total":97.50},
		"parts":[{"name":"Screen","quantity":1,"unit_cost":80.00,"total":80.00},{"name":"Digitizer","quantity":1,"unit_cost":80.00,"total":80.00}],
		"total_cost":257.50,"created_at":"2026-02-15T10:30:00Z","updated_at":"2026-02-17T09:00:00Z"}]`},
}

func details(ctx context.Context, pages int) ([]detailRun, error) {
	var out []detailRun
	for _, sh := range detailShapes {
		r := detailRun{Table: sh.table.FullName(), Pages: pages}
		var err error
		if r.PagesPerSec, err = detailPages(ctx, sh.table, sh.page, pages, pipeline.CheckpointInterval); err != nil {
			return nil, err
		}
		if r.Every20, err = detailPages(ctx, sh.table, sh.page, pages, 0); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// detailPages stages n one-document pages of a table, checkpointing every
// pipeline.CheckpointPages pages no closer than interval, and returns
// pages per second.
func detailPages(ctx context.Context, t *schema.Table, shape string, n int, interval time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "bench-details-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	w, err := load.Open(ctx, filepath.Join(dir, "w.duckdb"))
	if err != nil {
		return 0, err
	}
	defer w.Close()
	if err := w.Ensure(ctx, sources.Tables()...); err != nil {
		return 0, err
	}
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, "bench", load.KindExport, at); err != nil {
		return 0, err
	}
	start := time.Now()
	last := start
	for i := 1; i <= n; i++ {
		b, err := transform.Page(t, []byte(fmt.Sprintf(shape, i)), transform.Meta{Account: "north", RunID: "bench", ExtractedAt: at}, nil)
		if err != nil {
			return 0, err
		}
		err = w.StagePartial(ctx, "north", b)
		b.Release()
		if err != nil {
			return 0, err
		}
		if i%pipeline.CheckpointPages == 0 && time.Since(last) >= interval {
			if err := w.Checkpoint(ctx, "bench", at); err != nil {
				return 0, err
			}
			last = time.Now()
		}
	}
	if err := w.Checkpoint(ctx, "bench", at); err != nil {
		return 0, err
	}
	took := time.Since(start)
	res, err := w.Query(ctx, "SELECT count(*) FROM "+t.FullName())
	if err != nil || res.Rows[0][0] != fmt.Sprint(n) {
		return 0, fmt.Errorf("%s: %v rows loaded of %d (%v)", t.FullName(), res.Rows, n, err)
	}
	return float64(n) / took.Seconds(), nil
}
