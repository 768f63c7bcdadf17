package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
)

// publishRun is our Parquet publish of a table against DuckDB's own
// partitioned COPY of the same rows, in the same process.
type publishRun struct {
	Rows       int64 `json:"rows"`
	Partitions int   `json:"partitions"`
	// Seconds is our publish with DuckDB's memory capped as the export
	// caps it; SameMemorySeconds with the memory the COPY has.
	Seconds           float64 `json:"publish_seconds"`
	SameMemorySeconds float64 `json:"publish_seconds_same_memory"`
	CopySeconds       float64 `json:"copy_seconds"`
	// Ratio is speed over COPY's at the same memory; CappedRatio at the
	// export's cap.
	Ratio       float64 `json:"publish_speed_over_copy"`
	CappedRatio float64 `json:"publish_speed_over_copy_capped"`
}

// publish republishes every partition of mgr.tickets in the warehouse
// under dir, then writes the same rows with COPY … PARTITION_BY.
func publish(ctx context.Context, dir string) (publishRun, error) {
	var r publishRun
	w, err := openTickets(ctx, filepath.Join(dir, "w.duckdb"))
	if err != nil {
		return r, err
	}
	defer w.Close()
	t := mgr.TicketsTable
	part := load.Quote(t.PartitionBy)
	queueAll := func() error {
		_, err := w.Query(ctx, fmt.Sprintf(`INSERT OR REPLACE INTO meta.publish_queue SELECT DISTINCT '%s', account, year(%s), month(%s), 'bench' FROM %s.%s`,
			t.FullName(), part, part, load.Quote(t.Source), load.Quote(t.Name)))
		return err
	}
	timed := func(root string) (float64, []load.Published, error) {
		if err := queueAll(); err != nil {
			return 0, nil, err
		}
		start := time.Now()
		pub, err := w.Publish(ctx, root)
		return time.Since(start).Seconds(), pub, err
	}
	// As the export runs it (DuckDB's memory capped), then with the memory
	// DuckDB's own COPY has.
	var pub []load.Published
	if r.Seconds, pub, err = timed(filepath.Join(dir, "pq-ours")); err != nil {
		return r, err
	}
	r.Partitions = len(pub)
	for _, p := range pub {
		r.Rows += p.Rows
	}
	if _, err := w.Query(ctx, "SET memory_limit = '16GB'"); err != nil {
		return r, err
	}
	if r.SameMemorySeconds, _, err = timed(filepath.Join(dir, "pq-ours-16g")); err != nil {
		return r, err
	}
	var cols []string
	for _, c := range t.Columns {
		if c.Name != schema.ColAccount {
			cols = append(cols, load.Quote(c.Name))
		}
	}
	theirs := filepath.Join(dir, "pq-copy")
	os.MkdirAll(theirs, 0o755)
	start := time.Now()
	q := fmt.Sprintf(`COPY (SELECT %s, account, year(%s) AS year, month(%s) AS month FROM %s.%s) TO '%s' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (account, year, month), OVERWRITE_OR_IGNORE)`,
		strings.Join(cols, ", "), part, part, load.Quote(t.Source), load.Quote(t.Name), theirs)
	if _, err := w.Query(ctx, q); err != nil {
		return r, fmt.Errorf("COPY: %w", err)
	}
	r.CopySeconds = time.Since(start).Seconds()
	r.Ratio = r.CopySeconds / r.SameMemorySeconds
	r.CappedRatio = r.CopySeconds / r.Seconds
	return r, nil
}
