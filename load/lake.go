package load

// What the lake (package lake) needs of the warehouse: which tables and
// accounts changed since the lake last took them, and their rows written
// as Parquet data files, one account and month per file, with the lake
// table's field IDs. The lake's own format stays out of this package.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LakeViews is the lake queue's table_name for the conformed model: an
// account's row says every main.* view is due for it.
const LakeViews = "main"

// queueLake queues for the lake every (table, account) this run queued
// for Parquet, and the conformed model for the same accounts; the caller
// holds the checkpoint's transaction. The queue outlives the Parquet
// queue: the lake may be unreachable when the Parquet tree is written.
func (w *Warehouse) queueLake(ctx context.Context, runID string) error {
	_, err := w.conn.ExecContext(ctx, `INSERT INTO meta.lake_queue
		SELECT DISTINCT table_name, account, ? FROM meta.publish_queue WHERE run_id = ? AND table_name <> ?
		UNION SELECT DISTINCT ?, account, ? FROM meta.publish_queue WHERE run_id = ? AND table_name <> ?
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`,
		runID, runID, viewsQueued, LakeViews, runID, runID, viewsQueued)
	return err
}

// LakeQueue is what the lake has not taken yet: accounts by table
// ("mgr.tickets", or LakeViews for the conformed model).
func (w *Warehouse) LakeQueue(ctx context.Context) (map[string][]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]string{}
	err := w.scanRows(ctx, `SELECT table_name, account FROM meta.lake_queue ORDER BY ALL`, func(r *sql.Rows) error {
		var t, a string
		if err := r.Scan(&t, &a); err != nil {
			return err
		}
		out[t] = append(out[t], a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the lake queue: %w", err)
	}
	return out, nil
}

// QueueLakeAll queues every account of every named table (and of the
// conformed model) for the lake: `lake publish` of the whole warehouse.
func (w *Warehouse) QueueLakeAll(ctx context.Context, tables []string, runID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inTx(ctx, func() error {
		for _, name := range tables {
			t := w.tables[name]
			if t == nil {
				return fmt.Errorf("queue %s for the lake: not a declared table", name)
			}
			if _, err := w.conn.ExecContext(ctx, fmt.Sprintf(`INSERT INTO meta.lake_queue
				SELECT DISTINCT ?, account, ? FROM %s ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, quotedName(t)), name, runID); err != nil {
				return fmt.Errorf("queue %s for the lake: %w", name, err)
			}
		}
		_, err := w.conn.ExecContext(ctx, `INSERT INTO meta.lake_queue
			SELECT ?, account, ? FROM meta.accounts ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, LakeViews, runID)
		if err != nil {
			return fmt.Errorf("queue the conformed model for the lake: %w", err)
		}
		return nil
	})
}

// LakeDone takes a table's accounts off the lake queue, once the lake
// committed them.
func (w *Warehouse) LakeDone(ctx context.Context, table string, accounts []string) error {
	if len(accounts) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	vals := make([]string, len(accounts))
	for i, a := range accounts {
		vals[i] = sqlString(a)
	}
	_, err := w.conn.ExecContext(ctx, fmt.Sprintf(`DELETE FROM meta.lake_queue WHERE table_name = ? AND account IN (%s)`, strings.Join(vals, ", ")), table)
	if err != nil {
		return fmt.Errorf("take %s off the lake queue: %w", table, err)
	}
	return nil
}

// LakeColumn is a column of a lake data file: its warehouse name, and the
// lake table's field ID for it.
type LakeColumn struct {
	Name string
	ID   int
}

// LakeFile is one data file WriteLakeFiles wrote: one account and, for a
// table partitioned by time, one month.
type LakeFile struct {
	Path    string
	Account string
}

// WriteLakeFiles writes the rows of relation ("schema.name", a table or a
// view) for the given accounts into dir as Parquet files, one account and
// month (of timeColumn, in UTC, as Iceberg's month transform reads it;
// "" for none) per file, in one partitioned COPY: DuckDB's own writer,
// streaming. Each file holds cols, in that order, with their field IDs.
func (w *Warehouse) WriteLakeFiles(ctx context.Context, relation string, cols []LakeColumn, timeColumn string, accounts []string, dir string) ([]LakeFile, error) {
	if len(accounts) == 0 {
		return nil, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	schemaName, name, _ := strings.Cut(relation, ".")
	sel := make([]string, len(cols))
	ids := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "t." + Quote(c.Name)
		ids[i] = fmt.Sprintf("%s: %d", Quote(c.Name), c.ID)
	}
	var err error
	month := "'all'"
	if timeColumn != "" {
		// The session's zone is UTC (Open): a TIMESTAMPTZ's month is its
		// month in UTC, as Iceberg's transform reads it.
		month = fmt.Sprintf(`coalesce(strftime(t.%s, '%%Y-%%m'), 'null')`, Quote(timeColumn))
	}
	in := make([]string, len(accounts))
	for i, a := range accounts {
		in[i] = sqlString(a)
	}
	q := fmt.Sprintf(`COPY (SELECT %s, t.account AS __lake_account, %s AS __lake_month FROM %s.%s t WHERE t.account IN (%s))
		TO %s (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %d, PARTITION_BY (__lake_account, __lake_month), FIELD_IDS {%s}, FILENAME_PATTERN 'data_{uuid}', OVERWRITE_OR_IGNORE)`,
		strings.Join(sel, ", "), month, Quote(schemaName), Quote(name), strings.Join(in, ", "), sqlString(dir), RowGroupRows, strings.Join(ids, ", "))
	write := func() error {
		_, err := w.conn.ExecContext(ctx, q)
		return err
	}
	if w.tables[relation] != nil {
		// A table's rows stream; a view's joins and windows need the
		// warehouse's whole cap (at CopyMemory, main.tickets runs out).
		err = w.lowMemory(ctx, write)
	} else {
		err = write()
	}
	if err != nil {
		return nil, fmt.Errorf("write %s for the lake: %w", relation, err)
	}
	var out []LakeFile
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		out = append(out, LakeFile{Path: path, Account: strings.TrimPrefix(first, "__lake_account=")})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write %s for the lake: %w", relation, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// LakeAccounts are the accounts a relation ("schema.name") has rows for.
func (w *Warehouse) LakeAccounts(ctx context.Context, relation string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	schemaName, name, _ := strings.Cut(relation, ".")
	var out []string
	err := w.scanRows(ctx, fmt.Sprintf(`SELECT DISTINCT account FROM %s.%s ORDER BY 1`, Quote(schemaName), Quote(name)), func(r *sql.Rows) error {
		var a string
		if err := r.Scan(&a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounts of %s: %w", relation, err)
	}
	return out, nil
}

// RewriteLakeFiles writes the rows of local Parquet files (one lake
// partition's small files) into one file at out, with the lake's field
// IDs: the columns of cols the files have, in that order. A column none
// of them has stays out (a reader takes it as null, as Iceberg says).
func (w *Warehouse) RewriteLakeFiles(ctx context.Context, inputs []string, cols []LakeColumn, out string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	in := make([]string, len(inputs))
	for i, p := range inputs {
		in[i] = sqlString(p)
	}
	src := fmt.Sprintf("read_parquet([%s], union_by_name = true)", strings.Join(in, ", "))
	have := map[string]bool{}
	err := w.scanRows(ctx, "DESCRIBE SELECT * FROM "+src, func(r *sql.Rows) error {
		vals := make([]any, 6)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return err
		}
		have[fmt.Sprint(vals[0])] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the files to compact: %w", err)
	}
	var sel, ids []string
	for _, c := range cols {
		if have[c.Name] {
			sel = append(sel, Quote(c.Name))
			ids = append(ids, fmt.Sprintf("%s: %d", Quote(c.Name), c.ID))
		}
	}
	q := fmt.Sprintf(`COPY (SELECT %s FROM %s) TO %s (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %d, FIELD_IDS {%s})`,
		strings.Join(sel, ", "), src, sqlString(out), RowGroupRows, strings.Join(ids, ", "))
	if err := w.lowMemory(ctx, func() error {
		_, err := w.conn.ExecContext(ctx, q)
		return err
	}); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

// CopyMemory is what a streaming COPY needs of DuckDB's memory beyond
// what it already holds (the tables' indexes a run loaded): measured on
// a million tickets, a 128 MiB cap writes as fast as 256 MiB and holds
// the process at 230 MB instead of 370 MB.
const CopyMemory = 128 << 20

// lowMemory runs fn (a streaming COPY) with DuckDB's memory capped at
// what it holds now plus CopyMemory, never above the cap it has, then
// puts the cap back. The caller holds w.mu.
func (w *Warehouse) lowMemory(ctx context.Context, fn func() error) error {
	var setting string
	var used int64
	err := w.conn.QueryRowContext(ctx, `SELECT current_setting('memory_limit'), (SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory())`).Scan(&setting, &used)
	limit := used + CopyMemory
	if err != nil || limit >= sizeBytes(setting) {
		return fn() // the cap as it is
	}
	if _, err := w.conn.ExecContext(ctx, fmt.Sprintf("SET memory_limit = '%dMiB'", limit>>20)); err != nil {
		return fn()
	}
	defer w.conn.ExecContext(context.WithoutCancel(ctx), "SET memory_limit = "+sqlString(setting))
	return fn()
}

// sizeBytes reads a size as DuckDB shows its settings ("256.0 MiB",
// "1.9 GiB"); 0 when it cannot.
func sizeBytes(s string) int64 {
	var n float64
	var unit string
	if _, err := fmt.Sscanf(s, "%g %s", &n, &unit); err != nil {
		return 0
	}
	mult := map[string]float64{"bytes": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	return int64(n * mult)
}
