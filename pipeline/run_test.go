package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/load"
)

// jobPage is a list page of n jobs of the test source Tiny, numbered from
// first.
func jobPage(t *testing.T, first, n int) page {
	t.Helper()
	src, _ := sources.Lookup(tiny.Name)
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"id":"J%d","created_at":"2026-07-16T10:00:00-06:00","status":"open"}`, first+i)
	}
	e := archive.Entry{Resource: "jobs", Kind: archive.KindList, FetchedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Body: []byte(`{"jobs":[` + strings.Join(recs, ",") + `],"has_more":false}`)}
	d, err := src.Decode(e)
	if err != nil {
		t.Fatal(err)
	}
	e.Account, e.RunID = "north", "r1"
	rows, err := prepare(e, d)
	if err != nil {
		t.Fatal(err)
	}
	return page{src: src, account: "north", entry: e, rows: rows}
}

// Checkpoints come every CheckpointPages pages, but no closer together than
// the interval or the last checkpoint's own time, and whenever the staged
// rows reach load.CheckpointRows.
func TestCheckpointCadence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		step     time.Duration // the clock between two pages
		pages    int
		rows     int // per page
		commits  int
		takes    time.Duration // the clock during each checkpoint
	}{
		{"every 20 pages", 0, 0, 45, 1, 2, 0},
		{"pages faster than the interval wait for it", time.Second, 0, 45, 1, 0, 0},
		{"pages slower than the interval go by the count", time.Second, 100 * time.Millisecond, 45, 1, 2, 0},
		{"the rows bound whatever the pages", time.Second, 0, 18, 1000, 1, 0},
		{"a checkpoint slower than the interval spaces the next as far", time.Second, 100 * time.Millisecond, 45, 1, 1, 3 * time.Second},
		{"and the next comes once that time has passed", time.Second, 100 * time.Millisecond, 55, 1, 2, 3 * time.Second},
		{"no interval: every 20 pages however slow", 0, 100 * time.Millisecond, 45, 1, 2, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			w, err := load.Open(ctx, filepath.Join(dir, "w.duckdb"))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Ensure(ctx, sources.Tables()...); err != nil {
				t.Fatal(err)
			}
			commits := 0
			clk := budget.NewFake(time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC))
			w.SetHook(func(p string) {
				switch p {
				case load.HookBeforeCommit:
					clk.Advance(tc.takes)
				case load.HookAfterCommit:
					commits++
				}
			})
			if err := w.BeginRun(ctx, "r1", load.KindExport, clk.Now()); err != nil {
				t.Fatal(err)
			}
			ld := &loader{w: w, runID: "r1", raw: filepath.Join(dir, "raw"), clock: clk, log: slog.New(slog.DiscardHandler), every: CheckpointPages, interval: tc.interval, writers: map[string]*archive.Writer{}, last: clk.Now()}
			for i := range tc.pages {
				clk.Advance(tc.step)
				if err := ld.load(ctx, jobPage(t, i*tc.rows, tc.rows)); err != nil {
					t.Fatal(err)
				}
			}
			ld.close()
			if commits != tc.commits {
				t.Errorf("%d checkpoints, want %d", commits, tc.commits)
			}
		})
	}
}

// The page buffer holds a second of the fastest account's requests: two
// pages at the sources' documented rates (a crash costs two), up to 64
// for an account allowed far more; many slow accounts do not add up.
func TestPageBufferHoldsASecondOfTheFastestAccount(t *testing.T) {
	mgrDocumented := extract.Pace{PerMinute: 30 * budget.DefaultHeadroom}
	repairOpsHourly := extract.Pace{PerMinute: 1000.0 / 60, PerHour: 1000}
	for _, tc := range []struct {
		name  string
		paces []extract.Pace
		want  int
	}{
		{"no account", nil, PageBuffer},
		{"MGR at its documented rate", []extract.Pace{mgrDocumented}, PageBuffer},
		{"RepairOps at an hourly quota", []extract.Pace{repairOpsHourly}, PageBuffer},
		{"two hundred slow accounts", slices.Repeat([]extract.Pace{mgrDocumented}, 200), PageBuffer},
		{"one account at 20 requests a second", []extract.Pace{mgrDocumented, {PerMinute: 1200}}, 20},
		{"an unthrottled account", []extract.Pace{{PerMinute: 1e6}}, MaxPageBuffer},
	} {
		if got := PageBufferFor(tc.paces...); got != tc.want {
			t.Errorf("%s: %d pages, want %d", tc.name, got, tc.want)
		}
	}
}
