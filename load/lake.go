package load

// What the lake (package lake) needs of the warehouse: which tables and
// accounts changed since the lake last took them, and their rows written
// as Parquet data files, one account and month per file, with the lake
// table's field IDs. The lake's own format stays out of this package.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	_, err := w.execSQL(ctx, `INSERT INTO meta.lake_queue
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
			if _, err := w.execSQL(ctx, fmt.Sprintf(`INSERT INTO meta.lake_queue
				SELECT DISTINCT ?, account, ? FROM %s ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, quotedName(t)), name, runID); err != nil {
				return fmt.Errorf("queue %s for the lake: %w", name, err)
			}
		}
		if len(w.tables) == 0 {
			return nil
		}
		_, err := w.execSQL(ctx, `INSERT INTO meta.lake_queue
			SELECT ?, account, ? FROM (`+w.accountsWithRows()+`) ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, LakeViews, runID)
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
	_, err := w.execSQL(ctx, fmt.Sprintf(`DELETE FROM meta.lake_queue WHERE table_name = ? AND account IN (%s)`, strings.Join(vals, ", ")), table)
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
// "" for none) per file, in partitioned COPYs: DuckDB's own writer,
// streaming, PartitionsPerWrite partitions at a time. Each file holds
// cols, in that order, with their field IDs.
//
// A view is read from its files in the local Parquet tree under
// parquetRoot when they are current (see viewFiles): a view's joins over
// every ticket and its history are the costliest query of a publish, and
// the Parquet publish ran it moments before. Otherwise ("" or stale
// files), the view is run.
func (w *Warehouse) WriteLakeFiles(ctx context.Context, relation string, cols []LakeColumn, timeColumn string, accounts []string, dir, parquetRoot string) ([]LakeFile, error) {
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
	from := Quote(schemaName) + "." + Quote(name)
	_, streams := w.tables[relation]
	if !streams && parquetRoot != "" {
		files, ok, err := w.viewFiles(ctx, parquetRoot, schemaName, name, accounts)
		switch {
		case err != nil:
			return nil, fmt.Errorf("write %s for the lake: %w", relation, err)
		case ok && len(files) == 0:
			return nil, nil // no rows for these accounts
		case ok:
			from = fmt.Sprintf(`read_parquet([%s], hive_partitioning = true, hive_types = {'account': VARCHAR})`, strings.Join(files, ", "))
			streams = true
		}
	}
	rows := fmt.Sprintf(`SELECT %s, t.account AS __lake_account, %s AS __lake_month FROM %s t WHERE t.account IN (%s)`,
		strings.Join(sel, ", "), month, from, strings.Join(in, ", "))
	copyTo := func(rows string) error {
		return w.execCopy(ctx, fmt.Sprintf(`COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd, %s, PARTITION_BY (__lake_account, __lake_month), FIELD_IDS {%s}, FILENAME_PATTERN 'data_{uuid}', OVERWRITE_OR_IGNORE)`,
			rows, sqlString(dir), rowGroups(LakeRowGroupRows, LakeRowGroupBytes), strings.Join(ids, ", ")))
	}
	if streams {
		// Rows stream, PartitionsPerWrite partitions (account and month)
		// at a time: DuckDB holds a buffer per open partition file, and
		// a chain's hundreds of accounts ran out of any cap at once. A
		// view's joins and windows need the warehouse's whole cap (at
		// CopyMemory, main.tickets runs out).
		var chunks []string
		if chunks, err = w.lakeChunks(ctx, rows); err == nil {
			err = w.lowMemory(ctx, func() error {
				for _, q := range chunks {
					if err := copyTo(q); err != nil {
						return err
					}
				}
				return nil
			})
		}
	} else {
		err = copyTo(rows)
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

// lakeChunks splits rows (WriteLakeFiles's query) into queries of
// PartitionsPerWrite partitions each: rows itself when they are that few.
func (w *Warehouse) lakeChunks(ctx context.Context, rows string) ([]string, error) {
	type part struct{ account, month string }
	var parts []part
	if err := w.scanRows(ctx, `SELECT DISTINCT __lake_account, __lake_month FROM (`+rows+`) ORDER BY ALL`, func(r *sql.Rows) error {
		parts = append(parts, part{})
		return r.Scan(&parts[len(parts)-1].account, &parts[len(parts)-1].month)
	}); err != nil {
		return nil, err
	}
	if len(parts) <= PartitionsPerWrite {
		return []string{rows}, nil
	}
	var chunks []string
	for start := 0; start < len(parts); start += PartitionsPerWrite {
		chunk := parts[start:min(start+PartitionsPerWrite, len(parts))]
		vals := make([]string, len(chunk))
		for i, p := range chunk {
			vals[i] = fmt.Sprintf("(%s, %s)", sqlString(p.account), sqlString(p.month))
		}
		chunks = append(chunks, fmt.Sprintf(`SELECT * FROM (%s) SEMI JOIN (VALUES %s) q(a, m) ON __lake_account = q.a AND __lake_month = q.m`, rows, strings.Join(vals, ", ")))
	}
	return chunks, nil
}

// viewFiles are the local Parquet files of view schemaName.name for the
// accounts (quoted for SQL; an account without a file has no rows), with
// ok false when they may not hold what the view gives now: the views are
// queued for the Parquet tree (a table changed since they were written),
// the view has no manifest there (never written, or removed), or the
// manifest's columns are not the view's (a newer version changed it).
func (w *Warehouse) viewFiles(ctx context.Context, root, schemaName, name string, accounts []string) (files []string, ok bool, err error) {
	if due, err := w.viewsDue(ctx); err != nil || due {
		return nil, false, err
	}
	dir := filepath.Join(root, schemaName, name)
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, false, nil
	}
	var m Manifest
	if json.Unmarshal(b, &m) != nil {
		return nil, false, nil
	}
	cols, err := w.viewColumns(ctx, Quote(schemaName)+"."+Quote(name))
	if err != nil {
		return nil, false, fmt.Errorf("describe %s.%s: %w", schemaName, name, err)
	}
	if !slices.Equal(cols, m.Columns) {
		return nil, false, nil
	}
	for _, a := range accounts {
		f := filepath.Join(dir, "account="+a, PartitionFile)
		if _, err := os.Stat(f); err == nil {
			files = append(files, sqlString(f))
		}
	}
	return files, true, nil
}

// LakeAccounts are the accounts a relation ("schema.name") has rows for.
// A view's are every account a declared table has rows for: running the
// view to find them would cost what writing it does (main.tickets joins
// every ticket with its history), and an account without rows in it
// just writes no file.
func (w *Warehouse) LakeAccounts(ctx context.Context, relation string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	schemaName, name, _ := strings.Cut(relation, ".")
	q := fmt.Sprintf(`SELECT DISTINCT account FROM %s.%s ORDER BY 1`, Quote(schemaName), Quote(name))
	var views int
	if err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? AND table_type = 'VIEW'`, schemaName, name).Scan(&views); err != nil {
		return nil, fmt.Errorf("accounts of %s: %w", relation, err)
	}
	if views > 0 && len(w.tables) > 0 {
		q = w.accountsWithRows() + " ORDER BY 1"
	}
	var out []string
	err := w.scanRows(ctx, q, func(r *sql.Rows) error {
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

// accountsWithRows is a query of the accounts any declared table has
// rows for: this warehouse's accounts. The conformed model is queued for
// the lake by these, never by meta.accounts, which lists every account a
// config named: hosts that share one config (--shard) must not publish
// empty views over each other's accounts. "" without declared tables.
func (w *Warehouse) accountsWithRows() string {
	names := make([]string, 0, len(w.tables))
	for n := range w.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "SELECT DISTINCT account FROM " + quotedName(w.tables[n])
	}
	return strings.Join(parts, " UNION ")
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
	q := fmt.Sprintf(`COPY (SELECT %s FROM %s) TO %s (FORMAT parquet, COMPRESSION zstd, %s, FIELD_IDS {%s})`,
		strings.Join(sel, ", "), src, sqlString(out), rowGroups(RowGroupRows, RowGroupBytes), strings.Join(ids, ", "))
	if err := w.lowMemory(ctx, func() error { return w.execCopy(ctx, q) }); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

// LakeRowGroupRows and LakeRowGroupBytes bound a row group of a lake data
// file, whichever comes first. The lake's COPY runs under a lowered cap
// (lowMemory), where smaller row groups leave a partition's writer less
// to hold and spill: on one thread, a million tickets' lake COPY took
// 5.1 s at 122,880 rows, 4.7 s at 32,768 and 4.1 s at 16,384, with the
// process at the same 283-288 MB; on two, at 16,384 rows, 2.8-3.0 s with
// groups of at most 8 MB and 2.6 s, 20 MB lower, at 4 MB (a query timed
// alone; the bench's lake publish of the same table, with its upload and
// commit: 2.79 and 2.82 s, the whole warehouse's 277 and 266 MB). lake
// maintain's compaction writes RowGroupRows and RowGroupBytes again.
const (
	LakeRowGroupRows  = 16384
	LakeRowGroupBytes = "4MB"
)

// CopyMemory is what a streaming COPY needs of DuckDB's memory beyond
// what it already holds (the tables' indexes a run loaded). Measured on
// a million tickets (a `lake publish` of the whole warehouse, then on one
// thread a COPY, in row groups bounded by rows alone): 96 MiB wrote as
// fast as 128 and held the process at 265 MB instead of 300; 64 MiB held
// 237 MB; 96 keeps a margin for rows wider than a ticket's. On two
// threads, with LakeRowGroupBytes, a million tickets' COPY alone takes
// 3.2 s at a 128 MiB cap, 2.4 s at 192 and 2.3 s at 256 (216, 248 and 295
// MB): the whole-warehouse publish is at 266 MB with this margin.
const CopyMemory = 96 << 20

// LakeThreads is how many threads a lake COPY uses at most. Each thread
// holds partition buffers and row groups of its own, so a COPY's memory
// would grow with the host's cores: with row groups of RowGroupRows rows,
// two threads wrote a million tickets (25 lake partitions) in 3.7 s at
// 287-315 MB and one in 5.1 s at 258-284, so it ran on one. Bounded by
// LakeRowGroupBytes as well, two write them in 2.6-3.0 s at 232-253 MB,
// and one in 3.5-3.7 s at 236-242 (at a 160 MiB cap).
const LakeThreads = 2

// lowMemory runs fn (a streaming COPY) on at most LakeThreads threads,
// with DuckDB's memory capped at what it holds now plus CopyMemory, never
// above the cap it has, then puts both back. The caller holds w.mu.
func (w *Warehouse) lowMemory(ctx context.Context, fn func() error) error {
	var threads int64
	if err := w.conn.QueryRowContext(ctx, `SELECT current_setting('threads')`).Scan(&threads); err == nil && threads > LakeThreads {
		if _, err := w.execSQL(ctx, fmt.Sprintf("SET threads = %d", LakeThreads)); err == nil {
			defer w.execSQL(context.WithoutCancel(ctx), fmt.Sprintf("SET threads = %d", threads))
		}
	}
	var setting string
	var used int64
	err := w.conn.QueryRowContext(ctx, `SELECT current_setting('memory_limit'), (SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory())`).Scan(&setting, &used)
	limit := used + CopyMemory
	if err != nil || limit >= sizeBytes(setting) {
		return fn() // the cap as it is
	}
	if _, err := w.execSQL(ctx, fmt.Sprintf("SET memory_limit = '%dMiB'", limit>>20)); err != nil {
		return fn()
	}
	defer w.execSQL(context.WithoutCancel(ctx), "SET memory_limit = "+sqlString(setting))
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
