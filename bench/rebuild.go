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

// rebuildRun is `repairshop-export rebuild` of n generated tickets against DuckDB's
// read_json of the same records.
type rebuildRun struct {
	Tickets      int     `json:"tickets"`
	Seconds      float64 `json:"rebuild_seconds"`
	RowsPerSec   float64 `json:"rebuild_rows_per_second"`
	PeakRSS      int64   `json:"rebuild_peak_rss_bytes"`
	JSONSeconds  float64 `json:"read_json_seconds"`
	JSONRowsSec  float64 `json:"read_json_rows_per_second"`
	Ratio        float64 `json:"rebuild_over_read_json"`
	ArchiveBytes int64   `json:"archive_bytes"`
}

// rebuild measures n tickets; then is called with the directory holding the
// rebuilt warehouse (w.duckdb) before it is removed.
func (b *bench) rebuild(ctx context.Context, n int, then func(dir string) error) (rebuildRun, error) {
	r := rebuildRun{Tickets: n}
	dir, err := os.MkdirTemp("", "bench-rebuild-")
	if err != nil {
		return r, err
	}
	if os.Getenv("BENCH_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "bench: BENCH_KEEP: keeping %s (its export.yaml and warehouse, for profiling)\n", dir)
	}
	raw, ndjson, err := generate(dir, n)
	if err != nil {
		return r, fmt.Errorf("generate %d tickets: %w", n, err)
	}
	filepath.Walk(raw, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			r.ArchiveBytes += info.Size()
		}
		return nil
	})
	cfg := filepath.Join(dir, "export.yaml")
	os.WriteFile(cfg, []byte("warehouse: ./w.duckdb\nparquet: ./pq\nraw: ./raw\nstate_dir: ./state\naccounts:\n  - name: north\n    source: mgr\n    api_key_env: BENCH_UNUSED_KEY\n    resources: [tickets]\n"), 0o644)
	took, rss, _, err := child(b.bin, nil, "rebuild", "--config", cfg)
	if err != nil {
		return r, err
	}
	r.Seconds, r.PeakRSS = took.Seconds(), rss
	r.RowsPerSec = float64(n) / took.Seconds()
	if r.JSONSeconds, err = readJSON(ctx, dir, ndjson); err != nil {
		return r, err
	}
	r.JSONRowsSec = float64(n) / r.JSONSeconds
	r.Ratio = r.RowsPerSec / r.JSONRowsSec
	return r, then(dir)
}

// readJSON loads the records with DuckDB's own JSON reader into a table of
// the same declaration, typed the same (DuckDB infers the records' shape,
// then each column is cast as ours is), and returns the seconds it took.
func readJSON(ctx context.Context, dir, ndjson string) (float64, error) {
	w, err := load.Open(ctx, filepath.Join(dir, "reference.duckdb"))
	if err != nil {
		return 0, err
	}
	defer w.Close()
	t := mgr.TicketsTable
	if err := w.Ensure(ctx, t); err != nil {
		return 0, err
	}
	var cols, sel []string
	for _, c := range t.Columns {
		cols = append(cols, load.Quote(c.Name))
		switch c.Name {
		case schema.ColAccount:
			sel = append(sel, "'north'")
		case schema.ColExtractedAt:
			sel = append(sel, "now()")
		case schema.ColRunID:
			sel = append(sel, "'bench'")
		case schema.ColExtra:
			sel = append(sel, "NULL")
		default:
			if len(c.Paths) == 0 { // bookkeeping of our own (deleted_at)
				sel = append(sel, "NULL")
				continue
			}
			parts := strings.Split(c.Paths[0], ".")
			for i := range parts {
				parts[i] = load.Quote(parts[i])
			}
			sel = append(sel, fmt.Sprintf("TRY_CAST(%s AS %s)", strings.Join(parts, "."), c.Type.DuckDBType()))
		}
	}
	// DuckDB as it comes, not as the export configures it.
	if _, err := w.Query(ctx, "SET memory_limit = '16GB'"); err != nil {
		return 0, err
	}
	start := time.Now()
	q := fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM read_json('%s', format = 'newline_delimited')",
		load.Quote(t.Source), load.Quote(t.Name), strings.Join(cols, ", "), strings.Join(sel, ", "), ndjson)
	if _, err := w.Query(ctx, q); err != nil {
		return 0, fmt.Errorf("read_json: %w", err)
	}
	return time.Since(start).Seconds(), nil
}
