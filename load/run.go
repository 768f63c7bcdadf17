package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/repairshop/export/schema"
)

// Run statuses in meta.runs.
const (
	StatusRunning = "running"
	StatusOK      = "ok"
	StatusPartial = "partial"
	StatusFailed  = "failed"
	// StatusInterrupted marks a run whose process died (kill -9, power
	// loss): what it checkpointed is kept, the rest is redone by the next run.
	StatusInterrupted = "interrupted"
)

// Run kinds in meta.runs.
const (
	KindExport  = "export"
	KindRebuild = "rebuild"
)

// AccountResult is what one account's extraction did in a run.
type AccountResult struct {
	Account, Source string
	Requests        int64
	Status          string // ok | partial | failed
	Error           string
	// Left says what a partial account leaves for the next run ("" when
	// it finished).
	Left string
}

// TableStats counts what a run did to one table for one account. Received
// counts staged rows (a record listed and then fetched in detail is
// received twice); Inserted, Updated and Unchanged count each row once per
// run: a row inserted by a list page and completed by its detail is one
// insert, a stored row changed by both is one update.
type TableStats struct {
	Account, Table                         string
	Received, Inserted, Updated, Unchanged int64
	// Deleted counts child rows gone from a re-fetched parent's array.
	Deleted  int64
	Rejected int64
}

// Summary is a committed run.
type Summary struct {
	RunID    string
	Status   string
	Tables   []TableStats
	Accounts []AccountResult
}

// Totals adds up the table stats.
func (s Summary) Totals() (t TableStats) {
	for _, x := range s.Tables {
		t.Received += x.Received
		t.Inserted += x.Inserted
		t.Updated += x.Updated
		t.Unchanged += x.Unchanged
		t.Deleted += x.Deleted
		t.Rejected += x.Rejected
	}
	return t
}

// Hook points, for crash tests: a hook that kills the process there shows
// what a crash at that point leaves behind.
const (
	HookBeforeCommit   = "checkpoint:before-commit" // inside the transaction, all written
	HookAfterCommit    = "checkpoint:after-commit"  // committed, not yet published
	HookBeforeRename   = "publish:before-rename"    // a Parquet file written aside
	HookAfterRename    = "publish:after-rename"     // a partition in place, queue not yet updated
	HookBeforeManifest = "publish:before-manifest"  // partitions in place, manifest written aside
)

// SetHook installs a function called at the Hook* points (nil: none).
func (w *Warehouse) SetHook(h func(point string)) { w.hook = h }

func (w *Warehouse) at(point string) {
	if w.hook != nil {
		w.hook(point)
	}
}

// BeginRun records a run as running. The caller holds the warehouse lock,
// so a run still "running" in meta.runs belongs to a process that died: it
// is marked interrupted.
func (w *Warehouse) BeginRun(ctx context.Context, runID, kind string, started time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats = map[[2]string]*TableStats{}
	w.cursors = map[[2]string]string{}
	w.archived = map[string]archiveMark{}
	w.details = nil
	w.written = map[[2]string]TableStats{}
	// The rows the run counted (see upsertTable), from none.
	// And the keys each run saw, for complete listings (see commitDeletes).
	if err := w.exec(ctx, `CREATE OR REPLACE TEMP TABLE run_counted (tbl VARCHAR, k VARCHAR, op VARCHAR)`,
		`CREATE OR REPLACE TEMP TABLE run_seen (tbl VARCHAR, account VARCHAR, run_id VARCHAR, k VARCHAR)`); err != nil {
		return fmt.Errorf("begin run %s: %w", runID, err)
	}
	// Tables with rejects an earlier run left: a record loaded now
	// resolves them (see upsertTable); the others need no look.
	w.openRejects = map[string]bool{}
	rows, err := w.conn.QueryContext(ctx, `SELECT DISTINCT table_name FROM meta.rejects WHERE resolved_run_id IS NULL`)
	if err != nil {
		return fmt.Errorf("begin run %s: %w", runID, err)
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return fmt.Errorf("begin run %s: %w", runID, err)
		}
		w.openRejects[t] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("begin run %s: %w", runID, err)
	}
	if err := w.dropShadows(ctx); err != nil { // left by a rebuild that died
		return fmt.Errorf("begin run %s: %w", runID, err)
	}
	_, err = w.conn.ExecContext(ctx, `UPDATE meta.runs SET status = ?, error = coalesce(error, 'the process stopped before the run finished; checkpointed rows are kept') WHERE status = ?`, StatusInterrupted, StatusRunning)
	if err == nil {
		_, err = w.conn.ExecContext(ctx, `INSERT INTO meta.runs (run_id, kind, started_at, status) VALUES (?, ?, ?, ?)`, runID, kind, started.UTC(), StatusRunning)
	}
	if err != nil {
		return fmt.Errorf("begin run %s: %w", runID, err)
	}
	return nil
}

// SetCursor records an account's incremental position in a resource. It
// is written in the same transaction as the rows staged so far, at the
// next Checkpoint: stage a page, then set the cursor that follows it.
func (w *Warehouse) SetCursor(account, resource, value string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cursors[[2]string{account, resource}] = value
}

// Cursor returns the committed cursor of an account's resource.
func (w *Warehouse) Cursor(ctx context.Context, account, resource string) (string, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var v string
	err := w.conn.QueryRowContext(ctx, `SELECT value FROM meta.cursors WHERE account = ? AND resource = ?`, account, resource).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read cursor %s/%s: %w", account, resource, err)
	}
	return v, true, nil
}

// Cursors returns an account's committed cursors whose resource starts
// with prefix, by resource (e.g. every "kpis/<shop>").
func (w *Warehouse) Cursors(ctx context.Context, account, prefix string) (map[string]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rows, err := w.conn.QueryContext(ctx, `SELECT resource, value FROM meta.cursors WHERE account = ? AND starts_with(resource, ?)`, account, prefix)
	if err != nil {
		return nil, fmt.Errorf("read cursors %s/%s*: %w", account, prefix, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var r, v string
		if err := rows.Scan(&r, &v); err != nil {
			return nil, fmt.Errorf("read cursors %s/%s*: %w", account, prefix, err)
		}
		out[r] = v
	}
	return out, rows.Err()
}

// archiveMark is how much of one raw archive file a run has committed.
type archiveMark struct {
	runID, account string
	pages          int
}

// MarkArchived records that the first pages pages of a raw archive file are
// staged; committed with them at the next Checkpoint, it tells a rebuild
// which archived pages the warehouse really holds.
func (w *Warehouse) MarkArchived(runID, account, file string, pages int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.archived[file] = archiveMark{runID, account, pages}
}

// Checkpoint commits everything staged since the last checkpoint, in one
// transaction: rows (upserted, children replaced), rejects, schema drift,
// cursors, archive marks and the run's running totals. A crash before it
// loses only the staged pages, which the next run fetches again from the
// committed cursors.
func (w *Warehouse) Checkpoint(ctx context.Context, runID string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.commitStaged(ctx, func() error { return w.checkpoint(ctx, runID, at, nil) })
}

// commitStaged classifies what is staged (prepare), runs fn, which writes
// it, in a transaction, then empties the staging area. A checkpoint that
// fails is dropped whole: none of its pages is marked committed and no
// cursor moved, so the next run fetches them again.
func (w *Warehouse) commitStaged(ctx context.Context, fn func() error) error {
	// The run's counts as committed, for a transaction that rolls back.
	stats := make(map[[2]string]TableStats, len(w.stats))
	for k, s := range w.stats {
		stats[k] = *s
	}
	written := maps.Clone(w.written)
	err := w.prepare(ctx)
	if err == nil {
		err = w.inTx(ctx, func() error {
			if err := fn(); err != nil {
				return err
			}
			w.at(HookBeforeCommit)
			return nil
		})
	}
	w.resetStage(ctx)
	if err != nil {
		w.stats = map[[2]string]*TableStats{}
		for k, s := range stats {
			w.stats[k] = &s
		}
		w.written = written
		return err
	}
	w.at(HookAfterCommit)
	return nil
}

// prepare classifies each staged table's rows against the stored ones
// (classify), table by table, before the checkpoint's transaction: a
// temporary table created inside a transaction keeps its memory until the
// commit, however soon it is dropped, and a checkpoint of a few dozen
// tables then needs more than the memory limit. Only this connection
// writes the warehouse, so what prepare reads is what the transaction
// writes over.
func (w *Warehouse) prepare(ctx context.Context) error {
	for _, name := range w.stagedNames() {
		if err := w.classify(ctx, w.staged[name]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	w.pendingRows = 0
	return nil
}

// classify moves one table's pending records into its staging table, then
// builds from it the table's delta (each staged row with its operation,
// see deltaSQL) and its counted rows (see upsertTable), and drops it.
func (w *Warehouse) classify(ctx context.Context, st *stagedTable) error {
	if err := w.flush(ctx, st); err != nil {
		return err
	}
	t := st.table
	st.delta, st.counted = st.name+"__delta", st.name+"__counted"
	if _, err := w.conn.ExecContext(ctx, deltaSQL(st, w.target(t))); err != nil {
		return fmt.Errorf("classify staged rows: %w", err)
	}
	// Each row counts once per run under its strongest operation (insert >
	// update > same), remembered in run_counted: a list page inserts an
	// invoice and its detail completes it in a later checkpoint — one
	// insert; a row first seen unchanged and then changed — one update.
	counted := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS
		SELECT d.account, %s AS k, d._op AS op, c.op AS before
		FROM %s d LEFT JOIN run_counted c ON c.tbl = ? AND c.k = %s
		WHERE d._op <> 'delete'`, Quote(st.counted), countKey(t, "d"), Quote(st.delta), countKey(t, "d"))
	if _, err := w.conn.ExecContext(ctx, counted, t.FullName()); err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	rows, err := w.conn.QueryContext(ctx, fmt.Sprintf(`SELECT account, count(*) FROM %s GROUP BY ALL`, Quote(st.name)))
	if err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	st.received = map[string]int64{}
	for rows.Next() {
		var a string
		var n int64
		if err := rows.Scan(&a, &n); err != nil {
			rows.Close()
			return fmt.Errorf("count staged rows: %w", err)
		}
		st.received[a] = n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	return w.dropStaging(ctx, st)
}

// dropStaging drops a table's staging tables (not its delta).
func (w *Warehouse) dropStaging(ctx context.Context, st *stagedTable) error {
	stmts := []string{"DROP TABLE IF EXISTS " + Quote(st.name)}
	if st.parents != "" {
		stmts = append(stmts, "DROP TABLE IF EXISTS "+Quote(st.parents))
	}
	return w.exec(ctx, stmts...)
}

// countKey is a row's key as one string, for run_counted.
func countKey(t *schema.Table, alias string) string {
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = fmt.Sprintf("CAST(%s.%s AS VARCHAR)", alias, Quote(k))
	}
	return "concat_ws(chr(31), " + strings.Join(parts, ", ") + ")"
}

// Finish commits what is staged and closes the run with its final status.
func (w *Warehouse) Finish(ctx context.Context, runID string, finished time.Time, status string, accounts []AccountResult, runErr string) (Summary, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := Summary{RunID: runID, Status: status, Accounts: accounts}
	err := w.commitStaged(ctx, func() error {
		if err := w.checkpoint(ctx, runID, finished, accounts); err != nil {
			return err
		}
		_, err := w.conn.ExecContext(ctx, `UPDATE meta.runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?`,
			finished.UTC(), status, nullable(runErr), runID)
		return err
	})
	if err != nil {
		return sum, fmt.Errorf("finish run %s: %w", runID, err)
	}
	for _, s := range w.stats {
		sum.Tables = append(sum.Tables, *s)
	}
	sortStats(sum.Tables)
	return sum, nil
}

// inTx runs fn in a transaction on the warehouse connection. It is plain
// SQL BEGIN/COMMIT, not database/sql's Tx, because staging (Arrow views,
// temporary tables) must be able to run on the same connection inside it.
func (w *Warehouse) inTx(ctx context.Context, fn func() error) error {
	if _, err := w.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(); err != nil {
		// Roll back on a fresh context: ctx may be what was cancelled.
		if _, rerr := w.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *Warehouse) statsFor(account, table string) *TableStats {
	k := [2]string{account, table}
	if w.stats[k] == nil {
		w.stats[k] = &TableStats{Account: account, Table: table}
	}
	return w.stats[k]
}

// checkpoint writes the staged state; the caller holds a transaction.
func (w *Warehouse) checkpoint(ctx context.Context, runID string, at time.Time, accounts []AccountResult) error {
	for _, name := range w.stagedNames() {
		st := w.staged[name]
		if err := w.upsertTable(ctx, st, runID); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := w.writeVersions(ctx, st, runID); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := w.rememberSeen(ctx, st); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := w.commitDeletes(ctx, runID); err != nil {
		return err
	}
	if err := w.commitZones(ctx); err != nil {
		return err
	}
	if err := w.queueViews(ctx, runID); err != nil {
		return fmt.Errorf("queue the views: %w", err)
	}
	if err := w.commitRejects(ctx, runID, at); err != nil {
		return err
	}
	var drift, cursors, marks, tables [][]any
	for k, ex := range w.drift {
		drift = append(drift, []any{k.table, k.field, runID, at.UTC(), ex})
	}
	for k, v := range w.cursors {
		cursors = append(cursors, []any{k[0], k[1], v, runID, at.UTC()})
	}
	for file, m := range w.archived {
		marks = append(marks, []any{file, m.runID, m.account, m.pages})
	}
	var total TableStats
	for k, s := range w.stats {
		if w.written[k] != *s { // only what changed since the last checkpoint
			tables = append(tables, []any{runID, s.Account, s.Table, s.Received, s.Inserted, s.Updated, s.Unchanged, s.Rejected, s.Deleted})
		}
		total.Inserted += s.Inserted
		total.Updated += s.Updated
		total.Unchanged += s.Unchanged
		total.Deleted += s.Deleted
		total.Rejected += s.Rejected
	}
	var requests any // NULL until the accounts report
	var accts [][]any
	if accounts != nil {
		var n int64
		for _, a := range accounts {
			n += a.Requests
			accts = append(accts, []any{runID, a.Account, a.Source, a.Requests, a.Status, nullable(a.Error)})
		}
		requests = n
	}
	if err := w.writeDetails(ctx, runID); err != nil {
		return err
	}
	for _, b := range []struct {
		what, insert string
		rows         [][]any
	}{
		{"schema drift", `INSERT INTO meta.schema_drift VALUES %s ON CONFLICT DO NOTHING`, drift},
		{"cursors", `INSERT OR REPLACE INTO meta.cursors VALUES %s`, cursors},
		{"archive marks", `INSERT OR REPLACE INTO meta.raw_archive VALUES %s`, marks},
		{"table stats", `INSERT OR REPLACE INTO meta.run_tables VALUES %s`, tables},
		{"account stats", `INSERT OR REPLACE INTO meta.run_accounts VALUES %s`, accts},
	} {
		if err := w.insertRows(ctx, b.insert, b.rows); err != nil {
			return fmt.Errorf("%s: %w", b.what, err)
		}
	}
	for k, s := range w.stats {
		w.written[k] = *s
	}
	if _, err := w.conn.ExecContext(ctx, `UPDATE meta.runs SET checkpointed_at = ?, requests = coalesce(?, requests), rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, rows_deleted = ?, rows_rejected = ? WHERE run_id = ?`,
		at.UTC(), requests, total.Inserted, total.Updated, total.Unchanged, total.Deleted, total.Rejected, runID); err != nil {
		return fmt.Errorf("run row: %w", err)
	}
	return nil
}

// insertRows runs insert (with one %s for its VALUES) over rows, a few
// hundred at a time: one statement per row cost a checkpoint more than
// its rows did.
func (w *Warehouse) insertRows(ctx context.Context, insert string, rows [][]any) error {
	const chunk = 500
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		vals := make([]string, len(part))
		var args []any
		for i, r := range part {
			vals[i] = "(" + strings.TrimSuffix(strings.Repeat("?, ", len(r)), ", ") + ")"
			args = append(args, r...)
		}
		if _, err := w.conn.ExecContext(ctx, fmt.Sprintf(insert, strings.Join(vals, ", ")), args...); err != nil {
			return err
		}
	}
	return nil
}

// commitRejects moves the staged rejects into meta.rejects and counts them.
func (w *Warehouse) commitRejects(ctx context.Context, runID string, at time.Time) error {
	if _, err := w.conn.ExecContext(ctx, `INSERT INTO meta.rejects SELECT ?, account, table_name, record_key, reason, raw, ?, NULL FROM stage_rejects`, runID, at.UTC()); err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	rows, err := w.conn.QueryContext(ctx, `SELECT account, table_name, count(*) FROM stage_rejects GROUP BY ALL`)
	if err != nil {
		return fmt.Errorf("count rejects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, t string
		var n int64
		if err := rows.Scan(&a, &t, &n); err != nil {
			return fmt.Errorf("count rejects: %w", err)
		}
		w.statsFor(a, t).Rejected += n
	}
	return rows.Err()
}

// sameRow is the condition "staged row s equals stored row t" over the
// business columns (bookkeeping columns excluded, _extra included).
func sameRow(t *schema.Table) string {
	var conds []string
	for _, c := range t.Columns {
		if c.Name == schema.ColExtractedAt || c.Name == schema.ColRunID {
			continue
		}
		q := Quote(c.Name)
		if c.Name == schema.ColExtra {
			// Merging _extra reorders its keys: compare it as a set of
			// key/value pairs, not as text.
			conds = append(conds, fmt.Sprintf("%s IS NOT DISTINCT FROM %s", extraPairs("s."+q), extraPairs("t."+q)))
			continue
		}
		conds = append(conds, fmt.Sprintf("s.%s IS NOT DISTINCT FROM t.%s", q, q))
	}
	return strings.Join(conds, " AND ")
}

// extraPairs is an _extra object as its sorted [key, value] pairs.
func extraPairs(col string) string {
	return fmt.Sprintf("list_sort(list_transform(json_keys(%s), lambda k: [k, (%s -> k)::VARCHAR]))", col, col)
}

func keyJoin(t *schema.Table, a, b string) string {
	conds := make([]string, len(t.Key))
	for i, k := range t.Key {
		conds[i] = fmt.Sprintf("%s.%s = %s.%s", a, Quote(k), b, Quote(k))
	}
	return strings.Join(conds, " AND ")
}

func columnList(t *schema.Table, prefix string) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = prefix + Quote(c.Name)
	}
	return strings.Join(cols, ", ")
}

// partitionExpr gives the (year, month) of a row for the Parquet layout, or
// (0, 0) for tables not partitioned by date.
func partitionExpr(t *schema.Table, alias string) string {
	if t.PartitionBy == "" {
		return "0, 0"
	}
	c := alias + "." + Quote(t.PartitionBy)
	return fmt.Sprintf("year(%s), month(%s)", c, c)
}

func target(t *schema.Table) string { return Quote(t.Source) + "." + Quote(t.Name) }

// deltaSQL builds a table's delta: each staged row with its operation against
// the stored table (insert, update, same), and for a child table also the
// stored lines of re-fetched parents that are gone (delete).
func deltaSQL(st *stagedTable, tgt string) string {
	t := st.table
	// oldPart is the stored row's partition (where an update moves it from).
	oldPart := "0 AS _oy, 0 AS _om"
	if t.PartitionBy != "" {
		c := "t." + Quote(t.PartitionBy)
		oldPart = fmt.Sprintf("year(%s) AS _oy, month(%s) AS _om", c, c)
	}
	if !t.IsChild() {
		// The versions of a key staged in one checkpoint fold into one: from
		// its last whole version (a detail) on, later partial versions (a
		// list page, or a detail that lacks the list's fields) fill in
		// what they carry. If every version is partial, the fold is
		// completed from the stored row. Most keys are staged once (a
		// page's records, a rebuild's): they skip the fold, whose window
		// and aggregates cost far more memory and time per row. The
		// stored rows are read through the staged keys (a semi join built
		// on the staged side), so memory stays that of the checkpoint,
		// not of the table.
		key := quoteList(t.Key)
		cols := columnList(t, "")
		return fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS
			WITH staged_keys AS (SELECT DISTINCT %s FROM %s),
			stored AS (SELECT o.* FROM %s o SEMI JOIN staged_keys k ON %s),
			dup AS (SELECT %s FROM %s GROUP BY ALL HAVING count(*) > 1),
			once AS (SELECT %s, _batch, _partial FROM %s x WHERE NOT EXISTS (SELECT 1 FROM dup WHERE %s)),
			folded AS (SELECT %s, max(_batch) AS _batch, bool_and(_partial) AS _partial
				FROM (SELECT *, max(_seg) OVER (PARTITION BY %s) AS _mseg
					FROM (SELECT *, row_number() OVER (ORDER BY _batch, rowid) AS _r, sum(CASE WHEN _partial THEN 0 ELSE 1 END) OVER (PARTITION BY %s ORDER BY _batch, rowid ROWS UNBOUNDED PRECEDING) AS _seg
						FROM %s x WHERE EXISTS (SELECT 1 FROM dup WHERE %s)))
				WHERE _seg = _mseg GROUP BY %s)
			SELECT s.*, CASE WHEN t.%s IS NULL THEN 'insert' WHEN %s THEN 'same' ELSE 'update' END AS _op, %s
			FROM (SELECT %s, x._batch, x._partial
				FROM (SELECT * FROM once UNION ALL BY NAME SELECT * FROM folded) x
				LEFT JOIN stored o ON %s) s
			LEFT JOIN stored t ON %s`,
			Quote(st.delta),
			key, Quote(st.name),
			tgt, keyJoin(t, "k", "o"),
			key, Quote(st.name),
			cols, Quote(st.name), keyJoin(t, "dup", "x"),
			foldedColumns(t), key, key, Quote(st.name), keyJoin(t, "dup", "x"), key,
			Quote(schema.ColAccount), sameRow(t), oldPart, mergedColumns(t),
			keyJoin(t, "x", "o"), keyJoin(t, "s", "t"))
	}
	// A parent staged twice in one checkpoint: its last array wins whole.
	pk := Quote(t.ParentKey)
	return fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS
		WITH latest AS (SELECT account, parent_id, max(_batch) AS _batch FROM %s GROUP BY ALL),
		s AS (SELECT c.* FROM %s c JOIN latest l ON c.account = l.account AND c.%s = l.parent_id AND c._batch = l._batch),
		stored AS (SELECT t.* FROM %s t SEMI JOIN latest l ON t.account = l.account AND t.%s = l.parent_id)
		SELECT s.*, CASE WHEN t.%s IS NULL THEN 'insert' WHEN %s THEN 'same' ELSE 'update' END AS _op, %s
		FROM s LEFT JOIN stored t ON %s
		UNION ALL BY NAME
		SELECT t.*, NULL::BIGINT AS _batch, 'delete' AS _op, %s
		FROM stored t
		WHERE NOT EXISTS (SELECT 1 FROM s WHERE %s)`,
		Quote(st.delta),
		Quote(st.parents), Quote(st.name), pk,
		tgt, pk,
		Quote(schema.ColAccount), sameRow(t), oldPart, keyJoin(t, "s", "t"),
		oldPart,
		keyJoin(t, "s", "t"))
}

// foldedColumns aggregates the staged versions of one key (ordered by
// _r): the key, the last bookkeeping values, the last non-NULL value of
// each column, and the _extra objects merged in order.
func foldedColumns(t *schema.Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		q := Quote(c.Name)
		switch {
		case t.IsKey(c.Name):
			cols[i] = q
		case c.Name == schema.ColExtra:
			cols[i] = fmt.Sprintf(`CASE WHEN count(%s) = 0 THEN NULL ELSE CAST(list_reduce(list(%s ORDER BY _r) FILTER (WHERE %s IS NOT NULL), lambda a, b: json_merge_patch(a, b)) AS JSON) END AS %s`, q, q, q, q)
		case c.System:
			cols[i] = fmt.Sprintf("arg_max(%s, _r) AS %s", q, q)
		default:
			cols[i] = fmt.Sprintf("arg_max(%s, _r) FILTER (WHERE %s IS NOT NULL) AS %s", q, q, q)
		}
	}
	return strings.Join(cols, ", ")
}

// mergedColumns selects a staged row x completed from the stored row o
// where x is partial: NULL columns take the stored value, _extra is the
// stored one patched with the staged one.
func mergedColumns(t *schema.Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		q := Quote(c.Name)
		switch {
		case t.IsKey(c.Name) || c.System && c.Name != schema.ColExtra:
			cols[i] = "x." + q
		case c.Name == schema.ColExtra:
			cols[i] = fmt.Sprintf("CASE WHEN x._partial AND o.%s IS NOT NULL THEN CAST(json_merge_patch(o.%s, coalesce(x.%s, '{}')) AS JSON) ELSE x.%s END AS %s", q, q, q, q, q)
		default:
			cols[i] = fmt.Sprintf("CASE WHEN x._partial AND x.%s IS NULL THEN o.%s ELSE x.%s END AS %s", q, q, q, q)
		}
	}
	return strings.Join(cols, ", ")
}

// upsertTable moves one classified table (see classify) into its
// warehouse table; the caller holds the checkpoint's transaction.
func (w *Warehouse) upsertTable(ctx context.Context, st *stagedTable, runID string) error {
	t := st.table
	tgt := w.target(t)
	delta, counted := Quote(st.delta), Quote(st.counted)
	rank := func(op string) string {
		return fmt.Sprintf("CASE %s WHEN 'insert' THEN 3 WHEN 'update' THEN 2 WHEN 'same' THEN 1 ELSE 0 END", op)
	}
	rows, err := w.conn.QueryContext(ctx, fmt.Sprintf(`SELECT account, op, coalesce(before, ''), count(*) FROM %s WHERE before IS NULL OR %s > %s GROUP BY ALL
		UNION ALL SELECT account, 'delete', '', count(*) FROM %s WHERE _op = 'delete' GROUP BY ALL`, counted, rank("op"), rank("before"), delta))
	if err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	for a, n := range st.received {
		w.statsFor(a, t.FullName()).Received += n
	}
	for rows.Next() {
		var a, op, before string
		var n int64
		if err := rows.Scan(&a, &op, &before, &n); err != nil {
			rows.Close()
			return err
		}
		s := w.statsFor(a, t.FullName())
		for _, c := range []struct {
			op string
			by int64
		}{{before, -n}, {op, n}} { // a row moves from its earlier count to this one
			switch c.op {
			case "insert":
				s.Inserted += c.by
			case "update":
				s.Updated += c.by
			case "same":
				s.Unchanged += c.by
			case "delete":
				s.Deleted += c.by
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	forget := fmt.Sprintf(`DELETE FROM run_counted WHERE tbl = ? AND k IN (SELECT k FROM %s WHERE before IS NOT NULL)`, counted)
	remember := fmt.Sprintf(`INSERT INTO run_counted SELECT ?, k, arg_max(op, %s) FROM (
			SELECT k, op FROM %s UNION ALL SELECT k, before FROM %s WHERE before IS NOT NULL) GROUP BY k`, rank("op"), counted, counted)
	for _, q := range []string{forget, remember} {
		if _, err := w.conn.ExecContext(ctx, q, t.FullName()); err != nil {
			return fmt.Errorf("count staged rows: %w", err)
		}
	}
	// Partitions to republish: where changed rows are now and where they were.
	queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
		SELECT DISTINCT '%s', account, y, m, ? FROM (
			SELECT d.account, %s FROM %s d WHERE d._op <> 'same'
			UNION ALL
			SELECT d.account, d._oy, d._om FROM %s d WHERE d._op = 'update'
		) p(account, y, m) WHERE y IS NOT NULL
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`,
		t.FullName(), partitionExpr(t, "d"), delta, delta)
	if _, err := w.conn.ExecContext(ctx, queue, runID); err != nil {
		return fmt.Errorf("queue Parquet partitions: %w", err)
	}
	if t.IsChild() {
		del := fmt.Sprintf(`DELETE FROM %s t USING %s d WHERE d._op = 'delete' AND %s`, tgt, delta, keyJoin(t, "t", "d"))
		if _, err := w.conn.ExecContext(ctx, del); err != nil {
			return fmt.Errorf("delete lines gone from their parent: %w", err)
		}
	}
	cols := columnList(t, "")
	upsert := fmt.Sprintf(`INSERT OR REPLACE INTO %s (%s) SELECT %s FROM %s WHERE _op IN ('insert', 'update')`, tgt, cols, cols, delta)
	if _, err := w.conn.ExecContext(ctx, upsert); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	if !t.IsChild() && w.openRejects[t.FullName()] {
		// A record loaded now resolves its earlier rejects.
		resolve := fmt.Sprintf(`UPDATE meta.rejects SET resolved_run_id = ?
			WHERE resolved_run_id IS NULL AND table_name = ? AND run_id <> ?
			AND (account, record_key) IN (SELECT account, CAST(%s AS VARCHAR) FROM %s)`, Quote(t.Key[1]), delta)
		if _, err := w.conn.ExecContext(ctx, resolve, runID, t.FullName(), runID); err != nil {
			return fmt.Errorf("resolve rejects: %w", err)
		}
	}
	return nil
}

func (w *Warehouse) resetStage(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for _, st := range w.staged {
		for _, r := range st.pending {
			r.Release()
		}
		w.dropStaging(ctx, st)
		if st.delta != "" {
			w.exec(ctx, "DROP TABLE IF EXISTS "+Quote(st.delta), "DROP TABLE IF EXISTS "+Quote(st.counted))
		}
	}
	w.conn.ExecContext(ctx, "DELETE FROM stage_rejects")
	w.staged = map[string]*stagedTable{}
	w.pendingRows = 0
	w.drift = map[driftKey]string{}
	w.cursors = map[[2]string]string{}
	w.archived = map[string]archiveMark{}
	w.details = nil
	w.completes, w.gones = nil, nil
	w.zones = nil
}

func sortStats(s []TableStats) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Account != s[j].Account {
			return s[i].Account < s[j].Account
		}
		return s[i].Table < s[j].Table
	})
}

// shadowSuffix names a rebuild's shadow tables: it fills
// <source>.<table>__rebuild (and meta.details__rebuild) and swaps them in by
// name at its end.
const shadowSuffix = "__rebuild"

// rebuildState is a rebuild in progress: the tables it refills (children
// included) and the accounts whose rows it replaces.
type rebuildState struct {
	runID    string
	tables   map[string]bool // qualified names
	accounts string          // SQL list: ('a', 'b')
}

// BeginRebuild starts a rebuild run. The given tables (children included)
// are refilled for the given accounts by Stage and Checkpoint from the raw
// archive into shadow tables, each checkpoint committed (memory stays
// bounded whatever the archive's size), with a shadow of the detail queue;
// EndRebuild swaps them in, in one transaction. A shadow starts with the
// rows of the other accounts, so the swap is a rename, whatever the
// table's size. Readers see the old tables until then; a failed rebuild
// leaves them as they were.
func (w *Warehouse) BeginRebuild(ctx context.Context, runID string, started time.Time, tables []*schema.Table, accounts []string) error {
	if err := w.BeginRun(ctx, runID, KindRebuild, started); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	list := make([]string, len(accounts))
	for i, a := range accounts {
		list[i] = sqlString(a)
	}
	in := "(" + strings.Join(list, ", ") + ")"
	if len(accounts) == 0 {
		in = "(NULL)"
	}
	rb := &rebuildState{runID: runID, tables: map[string]bool{}, accounts: in}
	err := w.inTx(ctx, func() error {
		var all []*schema.Table
		for _, t := range schema.Flatten(tables...) {
			if all = append(all, t); t.HistoryTable != nil {
				all = append(all, t.HistoryTable)
			}
		}
		for _, t := range all {
			rb.tables[t.FullName()] = true
			// Every partition the table has now is rewritten (or removed).
			queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
				SELECT DISTINCT '%s', account, y, m, ? FROM (SELECT t.account, %s FROM %s t WHERE t.account IN %s) p(account, y, m) WHERE y IS NOT NULL
				ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, t.FullName(), partitionExpr(t, "t"), target(t), in)
			if _, err := w.conn.ExecContext(ctx, queue, runID); err != nil {
				return fmt.Errorf("rebuild %s: queue partitions: %w", t.FullName(), err)
			}
			shadow := shadowTable(t)
			cols := columnList(t, "")
			if err := w.exec(ctx,
				strings.Replace(TableDDL(t), "CREATE TABLE IF NOT EXISTS "+target(t), "CREATE OR REPLACE TABLE "+shadow, 1),
				fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE account NOT IN %s", shadow, cols, cols, target(t), in),
			); err != nil {
				return fmt.Errorf("rebuild %s: shadow table: %w", t.FullName(), err)
			}
		}
		// The replay updates the detail queue as the runs did, from what
		// it holds now.
		return w.exec(ctx,
			strings.Replace(detailsDDL, "CREATE TABLE IF NOT EXISTS meta.details", "CREATE OR REPLACE TABLE "+shadowDetails, 1),
			"INSERT INTO "+shadowDetails+" SELECT * FROM meta.details")
	})
	if err != nil {
		w.dropShadows(ctx)
		return err
	}
	w.rebuild = rb
	return nil
}

// shadowDetails is the detail queue a rebuild replays into.
var shadowDetails = "meta." + Quote("details"+shadowSuffix)

func shadowTable(t *schema.Table) string { return Quote(t.Source) + "." + Quote(t.Name+shadowSuffix) }

// target is the table rows go to: the table, or its shadow in a rebuild.
func (w *Warehouse) target(t *schema.Table) string {
	if w.rebuild != nil && w.rebuild.tables[t.FullName()] {
		return shadowTable(t)
	}
	return target(t)
}

// detailsTable is the detail queue notes go to.
func (w *Warehouse) detailsTable() string {
	if w.rebuild != nil {
		return shadowDetails
	}
	return "meta.details"
}

// dropShadows removes every shadow table (of this rebuild, or of one a
// crash interrupted).
func (w *Warehouse) dropShadows(ctx context.Context) error {
	rows, err := w.conn.QueryContext(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_catalog = current_database() AND ends_with(table_name, ?)`, shadowSuffix)
	if err != nil {
		return fmt.Errorf("find shadow tables: %w", err)
	}
	var drops []string
	for rows.Next() {
		var sch, tbl string
		if err := rows.Scan(&sch, &tbl); err != nil {
			rows.Close()
			return err
		}
		drops = append(drops, "DROP TABLE IF EXISTS "+Quote(sch)+"."+Quote(tbl))
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	return w.exec(ctx, drops...)
}

// EndRebuild swaps the rebuilt tables in (each shadow renamed to its
// table's name, the detail queue's too) in one transaction, or, when
// commit is false, leaves the tables as they were and takes back what the
// rebuild wrote to the meta tables. Either way the shadows are gone. Call
// it after the last Checkpoint, before Finish.
func (w *Warehouse) EndRebuild(ctx context.Context, commit bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rb := w.rebuild
	if rb == nil {
		return errors.New("end rebuild: no rebuild in progress")
	}
	w.rebuild = nil
	ctx = context.WithoutCancel(ctx) // finish the swap or the clean-up whatever happens to the caller
	var err error
	if commit {
		err = w.inTx(ctx, func() error {
			names := make([]string, 0, len(rb.tables))
			for n := range rb.tables {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				t := w.tables[n]
				if t == nil {
					return fmt.Errorf("end rebuild: table %s is not declared", n)
				}
				if err := w.exec(ctx,
					"DROP TABLE "+target(t),
					fmt.Sprintf("ALTER TABLE %s RENAME TO %s", shadowTable(t), Quote(t.Name))); err != nil {
					return fmt.Errorf("swap in %s: %w", n, err)
				}
			}
			return w.exec(ctx, "DROP TABLE meta.details", "ALTER TABLE "+shadowDetails+" RENAME TO details")
		})
		if err != nil {
			err = fmt.Errorf("commit rebuild: %w", err)
		}
	}
	if !commit || err != nil {
		w.resetStage(ctx)
		// What the rebuild's checkpoints wrote outside the shadows.
		undo := w.inTx(ctx, func() error {
			for _, q := range []string{
				`DELETE FROM meta.rejects WHERE run_id = ?`,
				`UPDATE meta.rejects SET resolved_run_id = NULL WHERE resolved_run_id = ?`,
				`DELETE FROM meta.schema_drift WHERE first_run_id = ?`,
			} {
				if _, err := w.conn.ExecContext(ctx, q, rb.runID); err != nil {
					return err
				}
			}
			return nil
		})
		if undo != nil {
			err = errors.Join(err, fmt.Errorf("take back the rebuild's meta rows: %w", undo))
		}
	}
	return errors.Join(err, w.dropShadows(ctx))
}

// ArchiveMarks returns how many pages of each raw archive file the
// warehouse has committed (by path relative to the archive root).
func (w *Warehouse) ArchiveMarks(ctx context.Context) (map[string]int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rows, err := w.conn.QueryContext(ctx, `SELECT file, pages_committed FROM meta.raw_archive`)
	if err != nil {
		return nil, fmt.Errorf("read archive marks: %w", err)
	}
	defer rows.Close()
	marks := map[string]int{}
	for rows.Next() {
		var f string
		var n int
		if err := rows.Scan(&f, &n); err != nil {
			return nil, fmt.Errorf("read archive marks: %w", err)
		}
		marks[f] = n
	}
	return marks, rows.Err()
}

// UnarchivedRuns lists the runs that loaded rows for one of the accounts
// without archiving them (runs from before the raw archive existed): a
// rebuild cannot reproduce what only they loaded.
func (w *Warehouse) UnarchivedRuns(ctx context.Context, accounts []string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rows, err := w.conn.QueryContext(ctx, `SELECT DISTINCT rt.run_id || ' (' || rt.account || ')' FROM meta.run_tables rt JOIN meta.runs r USING (run_id)
		WHERE coalesce(r.kind, 'export') = 'export' AND rt.rows_received > 0 AND list_contains(?, rt.account)
		AND NOT EXISTS (SELECT 1 FROM meta.raw_archive a WHERE a.run_id = rt.run_id AND a.account = rt.account) ORDER BY 1`, accounts)
	if err != nil {
		return nil, fmt.Errorf("find unarchived runs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
