package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	// LoadSeconds is the rebuild's own report of its replay (the
	// command's time less its Parquet publish).
	LoadSeconds float64 `json:"rebuild_load_seconds"`
	// Floor is DuckDB alone doing the rest of the rebuild's writes.
	Floor floor `json:"duckdb_alone"`
	// OneRun is the rebuild of the same tickets archived as one run.
	OneRun oneRun `json:"one_run"`
	// Status is `repairshop-export status` on the rebuilt warehouse, what
	// whoever runs the nightly job reads first.
	Status command `json:"status"`
}

// command is one run of a short command.
type command struct {
	Seconds float64 `json:"seconds"`
	PeakRSS int64   `json:"peak_rss_bytes"`
}

// oneRun is the rebuild of the same tickets archived as a single run:
// one checkpoint folds them all, commits once and keys the tables once.
// That is what a bulk path — every archived version appended, then
// folded in one set-based pass — could at best reach, so its ratio
// bounds what building one would gain over the per-run replay.
type oneRun struct {
	Seconds     float64 `json:"rebuild_seconds"`
	LoadSeconds float64 `json:"rebuild_load_seconds"`
	PeakRSS     int64   `json:"rebuild_peak_rss_bytes"`
	Ratio       float64 `json:"rebuild_over_read_json"`
}

// floor is what the rebuild writes besides the table read_json fills,
// done by DuckDB alone on the reference warehouse: the history table's
// first versions and a partitioned Parquet COPY of both tables. Added to
// read_json, it is what the whole command would take at DuckDB's own
// speed (without the conformed model's views, the checks and the
// bookkeeping): the rebuild's ratio cannot pass JSONSeconds ÷ Total.
type floor struct {
	HistorySeconds float64 `json:"history_seconds"`
	ParquetSeconds float64 `json:"parquet_seconds"`
	Total          float64 `json:"total_seconds"`
	Ceiling        float64 `json:"ratio_ceiling"`
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
	took, rss, load, err := b.rebuildArchive(dir, "")
	if err != nil {
		return r, err
	}
	r.Seconds, r.PeakRSS, r.LoadSeconds = took.Seconds(), rss, load
	r.RowsPerSec = float64(n) / took.Seconds()
	took, rss, _, err = child(b.bin, nil, "status", "--config", filepath.Join(dir, "export.yaml"))
	if err != nil {
		return r, err
	}
	r.Status = command{Seconds: took.Seconds(), PeakRSS: rss}
	if r.JSONSeconds, r.Floor, err = readJSON(ctx, dir, ndjson); err != nil {
		return r, err
	}
	r.JSONRowsSec = float64(n) / r.JSONSeconds
	r.Floor.Total = r.JSONSeconds + r.Floor.HistorySeconds + r.Floor.ParquetSeconds
	r.Floor.Ceiling = r.JSONSeconds / r.Floor.Total
	r.Ratio = r.RowsPerSec / r.JSONRowsSec
	if err := then(dir); err != nil {
		return r, err
	}
	if !b.want("rebuild") {
		return r, nil // a setup for the publish or the lake rows
	}
	// The same tickets as one archived run, into a warehouse of its own.
	if err := generateRuns(filepath.Join(dir, "raw-one"), "", n, n); err != nil {
		return r, fmt.Errorf("generate %d tickets as one run: %w", n, err)
	}
	took, rss, load, err = b.rebuildArchive(dir, "-one")
	if err != nil {
		return r, err
	}
	r.OneRun = oneRun{Seconds: took.Seconds(), LoadSeconds: load, PeakRSS: rss, Ratio: r.JSONSeconds / took.Seconds()}
	return r, sameRows(ctx, filepath.Join(dir, "w.duckdb"), filepath.Join(dir, "w-one.duckdb"))
}

// sameRows checks that two rebuilt warehouses hold the same tickets and
// versions, every field compared but those of the run (its id, its
// times): the two archives split the same tickets into different runs.
// Their times then compare the same work.
func sameRows(ctx context.Context, a, b string) error {
	queries := []string{
		`SELECT count(*), sum(hash(*COLUMNS(* EXCLUDE (run_id, extracted_at))))::VARCHAR FROM mgr.tickets`,
		`SELECT count(*), sum(hash(*COLUMNS(* EXCLUDE (run_id, extracted_at, valid_from, valid_to))))::VARCHAR FROM mgr.tickets_history`,
	}
	var got [2][]string
	for i, path := range []string{a, b} {
		w, err := load.OpenReadOnly(ctx, path)
		if err != nil {
			return err
		}
		for _, q := range queries {
			res, err := w.Query(ctx, q)
			if err != nil {
				w.Close()
				return fmt.Errorf("%s: %w", path, err)
			}
			got[i] = append(got[i], strings.Join(res.Rows[0], " "))
		}
		w.Close()
	}
	if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
		return fmt.Errorf("the rebuild as archived and as one run differ: %v against %v", got[0], got[1])
	}
	return nil
}

// rebuildArchive runs `repairshop-export rebuild` of the archive
// dir/raw<suffix> into the warehouse dir/w<suffix>.duckdb: the command's
// time, its peak RSS, and its replay's own seconds (its report's "ok in").
func (b *bench) rebuildArchive(dir, suffix string) (time.Duration, int64, float64, error) {
	cfg := filepath.Join(dir, "export"+suffix+".yaml")
	text := strings.ReplaceAll("warehouse: ./w{s}.duckdb\nparquet: ./pq{s}\nraw: ./raw{s}\nstate_dir: ./state{s}\naccounts:\n  - name: north\n    source: mgr\n    api_key_env: BENCH_UNUSED_KEY\n    resources: [tickets]\n", "{s}", suffix)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		return 0, 0, 0, err
	}
	took, rss, out, err := child(b.bin, nil, "rebuild", "--config", cfg)
	if err != nil {
		return 0, 0, 0, err
	}
	var load float64
	if m := loadTook.FindStringSubmatch(out); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil {
			load = d.Seconds()
		}
	}
	return took, rss, load, nil
}

// loadTook finds the rebuild's own time in its report ("run …: ok in 35.2s").
var loadTook = regexp.MustCompile(`(?m)^run \S+: ok in (\S+)$`)

// readJSON loads the records with DuckDB's own JSON reader into a table of
// the same declaration, typed the same (DuckDB infers the records' shape,
// then each column is cast as ours is), and returns the seconds it took;
// then it measures the floor of the rest of a rebuild's writes.
func readJSON(ctx context.Context, dir, ndjson string) (float64, floor, error) {
	var f floor
	w, err := load.Open(ctx, filepath.Join(dir, "reference.duckdb"))
	if err != nil {
		return 0, f, err
	}
	defer w.Close()
	t := mgr.TicketsTable
	if err := w.Ensure(ctx, t); err != nil {
		return 0, f, err
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
		return 0, f, err
	}
	start := time.Now()
	q := fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM read_json('%s', format = 'newline_delimited')",
		load.Quote(t.Source), load.Quote(t.Name), strings.Join(cols, ", "), strings.Join(sel, ", "), ndjson)
	if _, err := w.Query(ctx, q); err != nil {
		return 0, f, fmt.Errorf("read_json: %w", err)
	}
	took := time.Since(start).Seconds()

	// The floor: each ticket's first version, as a rebuild writes it,
	// then both tables' Parquet partitions.
	h := t.HistoryTable
	start = time.Now()
	q = fmt.Sprintf("INSERT INTO %s.%s (%s, valid_from, valid_to, deleted) SELECT %s, extracted_at, NULL, false FROM %s.%s",
		load.Quote(h.Source), load.Quote(h.Name), strings.Join(cols, ", "), strings.Join(cols, ", "), load.Quote(t.Source), load.Quote(t.Name))
	if _, err := w.Query(ctx, q); err != nil {
		return 0, f, fmt.Errorf("history: %w", err)
	}
	f.HistorySeconds = time.Since(start).Seconds()
	if err := os.MkdirAll(filepath.Join(dir, "floor"), 0o755); err != nil {
		return 0, f, err
	}
	start = time.Now()
	for _, x := range []*schema.Table{t, h} {
		by := load.Quote(t.PartitionBy)
		q := fmt.Sprintf("COPY (SELECT *, year(%s) AS year, month(%s) AS month FROM %s.%s) TO '%s' (FORMAT parquet, PARTITION_BY (account, year, month))",
			by, by, load.Quote(x.Source), load.Quote(x.Name), filepath.Join(dir, "floor", x.Name))
		if _, err := w.Query(ctx, q); err != nil {
			return 0, f, fmt.Errorf("Parquet COPY %s: %w", x.FullName(), err)
		}
	}
	f.ParquetSeconds = time.Since(start).Seconds()
	return took, f, nil
}
