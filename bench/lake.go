package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/internal/pgtest"
	"github.com/repairshop/export/lake"
	"github.com/repairshop/export/load"
)

// lakeRun is the lake publish of the big warehouse's mgr.tickets against
// our Parquet publish of the same table (same run, same memory cap), the
// peak RSS of a `lake publish` of the whole warehouse, and commits under
// contention.
type lakeRun struct {
	Rows           int64       `json:"rows"`
	Files          int         `json:"data_files"`
	ParquetSeconds float64     `json:"parquet_publish_seconds"`
	LakeSeconds    float64     `json:"lake_publish_seconds"`
	Ratio          float64     `json:"lake_speed_over_parquet"`
	WholeSeconds   float64     `json:"lake_publish_whole_warehouse_seconds"`
	PeakRSS        int64       `json:"lake_publish_peak_rss"`
	Contention     *contention `json:"contention,omitempty"`
}

// contention is N publishers committing to one table of one Postgres
// catalog at once, each its own account, round after round.
type contention struct {
	Publishers    int     `json:"publishers"`
	Commits       int     `json:"commits"`
	Retries       int     `json:"retries"`
	MedianMs      float64 `json:"commit_median_ms"`
	P99Ms         float64 `json:"commit_p99_ms"`
	CommitsPerSec float64 `json:"commits_per_second"`
}

// lakePublish publishes mgr.tickets of the warehouse in dir to a local
// lake (SQLite catalog, file://), in this process as a run would, then
// the whole warehouse with `lake publish` as a child for its peak RSS.
func (b *bench) lakePublish(ctx context.Context, dir string, p *publishRun) (lakeRun, error) {
	r := lakeRun{Rows: p.Rows, ParquetSeconds: p.Seconds}
	cfg := &config.Config{Path: filepath.Join(dir, "export.yaml"), Warehouse: filepath.Join(dir, "w.duckdb"),
		Lake: &config.Lake{Catalog: "sqlite://" + filepath.Join(dir, "lake.db"), Warehouse: "file://" + filepath.Join(dir, "lake")}}
	w, err := load.Open(ctx, cfg.Warehouse)
	if err != nil {
		return r, err
	}
	t := mgr.TicketsTable
	if err := w.Ensure(ctx, t); err != nil {
		w.Close()
		return r, err
	}
	if err := w.QueueLakeAll(ctx, []string{t.FullName()}, "bench"); err != nil {
		w.Close()
		return r, err
	}
	l, err := lake.Open(ctx, cfg, nil)
	if err != nil {
		w.Close()
		return r, err
	}
	start := time.Now()
	res, err := l.Publish(ctx, w, []lake.Target{{Namespace: t.Source, Name: t.Name, TimeColumn: t.PartitionBy, Queue: t.FullName()}}, "bench")
	r.LakeSeconds = time.Since(start).Seconds()
	l.Close()
	w.Close()
	if err != nil {
		return r, err
	}
	for _, c := range res.Commits {
		r.Files += c.Files
	}
	r.Ratio = r.ParquetSeconds / r.LakeSeconds
	// The whole warehouse (history and the conformed model too), as a
	// separate process: its peak RSS is a publish's.
	yaml, err := os.ReadFile(cfg.Path)
	if err != nil {
		return r, err
	}
	lakeCfg := filepath.Join(dir, "lake.yaml")
	os.WriteFile(lakeCfg, append(yaml, []byte("lake:\n  catalog: sqlite://lake2.db\n  warehouse: ./lake2\n")...), 0o644)
	took, rss, _, err := child(b.bin, nil, "lake", "publish", "--config", lakeCfg)
	r.WholeSeconds, r.PeakRSS = took.Seconds(), rss
	return r, err
}

// lakeContention runs n publishers against one Postgres catalog, each
// with its own warehouse and account of one table, rounds times each.
func lakeContention(ctx context.Context, n, rounds, rows int) (*contention, error) {
	uri, stop, err := pgtest.StartCluster()
	if err != nil {
		return nil, err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "bench-lake-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	target := lake.Target{Namespace: "bench", Name: "tickets", TimeColumn: "created_at", Queue: "bench.tickets"}
	var mu sync.Mutex
	var took []time.Duration
	retries := 0
	errs := make(chan error, n)
	ready := sync.WaitGroup{}
	ready.Add(n)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			account := fmt.Sprintf("p%d", i+1)
			cfg := &config.Config{Lake: &config.Lake{Catalog: uri, Warehouse: "file://" + filepath.Join(dir, "lake")}}
			w, err := load.Open(ctx, filepath.Join(dir, account+".duckdb"))
			if err == nil {
				_, err = w.Query(ctx, fmt.Sprintf(`CREATE SCHEMA bench; CREATE TABLE bench.tickets AS
					SELECT '%s' AS account, i AS id, TIMESTAMPTZ '2026-01-01' + to_days(CAST(i %% 300 AS INTEGER)) AS created_at,
						CAST(i * 1.25 AS DECIMAL(18,2)) AS total, 'round 0' AS note FROM range(%d) t(i)`, account, rows))
			}
			var l *lake.Lake
			if err == nil {
				l, err = lake.Open(ctx, cfg, nil)
			}
			ready.Done()
			if err != nil {
				errs <- err
				return
			}
			defer w.Close()
			defer l.Close()
			l.Host = account
			<-begin
			for round := range rounds {
				if _, err := w.Query(ctx, fmt.Sprintf(`UPDATE bench.tickets SET note = 'round %d'; INSERT INTO meta.lake_queue VALUES ('bench.tickets', '%s', 'r%d') ON CONFLICT DO NOTHING`, round+1, account, round)); err != nil {
					errs <- err
					return
				}
				res, err := l.Publish(ctx, w, []lake.Target{target}, fmt.Sprintf("r%d", round))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, c := range res.Commits {
					took = append(took, c.Took)
					retries += c.Retries
				}
				mu.Unlock()
			}
		}()
	}
	ready.Wait()
	start := time.Now()
	close(begin)
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	for err := range errs {
		return nil, err
	}
	slices.Sort(took)
	ms := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
	}
	return &contention{Publishers: n, Commits: len(took), Retries: retries, MedianMs: ms(0.5), P99Ms: ms(0.99), CommitsPerSec: float64(len(took)) / wall.Seconds()}, nil
}
