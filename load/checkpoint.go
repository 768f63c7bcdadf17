package load

// The checkpoint: staged rows classified against the warehouse and
// upserted, with the cursors, the detail queue, the archive marks and the
// rejects, in one transaction.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/repairshop/export/schema"
)

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
	defer w.holdFreedMemory(ctx)()
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
		if err := w.ensureRunTables(ctx, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := w.classify(ctx, w.staged[name]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, c := range w.completes { // the listing's keys are looked up in its run table
		if err := w.ensureRunTables(ctx, c.table.FullName()); err != nil {
			return fmt.Errorf("%s: %w", c.table.FullName(), err)
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
	if !st.created {
		return nil // empty pages only: no rows, nothing to count
	}
	t := st.table
	st.delta, st.counted = st.name+"__delta", st.name+"__counted"
	once := false
	if !t.IsChild() {
		var twice bool
		q := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s GROUP BY %s HAVING count(*) > 1)`, Quote(st.name), quoteList(t.Key))
		if err := w.conn.QueryRowContext(ctx, q).Scan(&twice); err != nil {
			return fmt.Errorf("classify staged rows: %w", err)
		}
		once = !twice
	}
	if _, err := w.execSQL(ctx, deltaSQL(st, w.target(t), once)); err != nil {
		return fmt.Errorf("classify staged rows: %w", err)
	}
	// What was staged (per account) and what the delta holds (per
	// operation), in one statement: the checkpoint skips the statements
	// an operation the delta lacks would run for nothing (most tables of
	// an incremental run hold only unchanged rows).
	rows, err := w.conn.QueryContext(ctx, fmt.Sprintf(`SELECT account, '' AS op, count(*) FROM %s GROUP BY ALL
		UNION ALL SELECT '', _op, count(*) FROM %s GROUP BY ALL`, Quote(st.name), Quote(st.delta)))
	if err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	st.received, st.ops = map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var a, op string
		var n int64
		if err := rows.Scan(&a, &op, &n); err != nil {
			rows.Close()
			return fmt.Errorf("count staged rows: %w", err)
		}
		if op == "" {
			st.received[a] = n
		} else {
			st.ops[op] = n
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	if len(st.ops) > 0 {
		// Each row counts once per run under its strongest operation
		// (insert > update > same), remembered in its run table: a list page
		// inserts an invoice and its detail completes it in a later
		// checkpoint — one insert; a row first seen unchanged and then
		// changed — one update.
		counted := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS
			SELECT d.account, %s AS k, d._op AS op, c.op AS before
			FROM %s d LEFT JOIN %s c ON c.k = %s
			WHERE d._op <> 'delete'`, Quote(st.counted), countKey(t, "d"), Quote(st.delta), runTable(runCounted, t.FullName()), countKey(t, "d"))
		if _, err := w.execSQL(ctx, counted); err != nil {
			return fmt.Errorf("count staged rows: %w", err)
		}
	}
	return w.dropStaging(ctx, st)
}

// dropStaging drops a table's staging tables (not its delta).
func (w *Warehouse) dropStaging(ctx context.Context, st *stagedTable) error {
	if !st.created {
		return nil
	}
	st.created = false
	stmts := []string{"DROP TABLE IF EXISTS " + Quote(st.name)}
	if st.parents != "" {
		stmts = append(stmts, "DROP TABLE IF EXISTS "+Quote(st.parents))
	}
	return w.exec(ctx, stmts...)
}

// The run tables: for each table a run writes, the keys it counted (k,
// and op, the strongest operation it counted the row under: see
// upsertTable), and the keys it saw (account, run_id, k: see
// commitDeletes). One pair per table, so that what a checkpoint looks up
// is that table's keys alone, not every key the run wrote: a lookup in
// one table of every key took 2.1 ms at a 200-account run's start and
// 4.7 ms at its end, and grew with the run.
const (
	runCounted = "counted"
	runSeen    = "seen"
)

// runTable is the quoted name of the run table of kind for the table
// named table.
func runTable(kind, table string) string { return Quote("run_" + kind + " " + table) }

// ensureRunTables makes the table's run tables when this run has not yet.
// It runs before a checkpoint's transaction (prepare), so that a rollback
// never takes away a table runTables lists.
func (w *Warehouse) ensureRunTables(ctx context.Context, table string) error {
	if w.runTables[table] {
		return nil
	}
	if err := w.exec(ctx, fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s (k VARCHAR, op VARCHAR)`, runTable(runCounted, table)),
		fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s (account VARCHAR, run_id VARCHAR, k VARCHAR)`, runTable(runSeen, table))); err != nil {
		return fmt.Errorf("make the run's tables: %w", err)
	}
	if w.runTables == nil {
		w.runTables = map[string]bool{}
	}
	w.runTables[table] = true
	return nil
}

// dropRunTables drops the run tables: at a run's end their memory goes
// back, and the next run counts from none.
func (w *Warehouse) dropRunTables(ctx context.Context) error {
	for _, table := range slices.Sorted(maps.Keys(w.runTables)) {
		if err := w.exec(ctx, "DROP TABLE IF EXISTS "+runTable(runCounted, table), "DROP TABLE IF EXISTS "+runTable(runSeen, table)); err != nil {
			return fmt.Errorf("drop the run's tables: %w", err)
		}
		delete(w.runTables, table)
	}
	return nil
}

// countKey is a row's key as one string, for the run tables.
func countKey(t *schema.Table, alias string) string {
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = fmt.Sprintf("CAST(%s.%s AS VARCHAR)", alias, Quote(k))
	}
	return "concat_ws(chr(31), " + strings.Join(parts, ", ") + ")"
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
	if err := w.queueLake(ctx, runID); err != nil {
		return fmt.Errorf("queue for the lake: %w", err)
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
	if err := w.writeDetails(ctx, w.notesRun(runID)); err != nil {
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
	if _, err := w.execSQL(ctx, `UPDATE meta.runs SET checkpointed_at = ?, requests = coalesce(?, requests), rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, rows_deleted = ?, rows_rejected = ? WHERE run_id = ?`,
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
		if _, err := w.execSQL(ctx, fmt.Sprintf(insert, strings.Join(vals, ", ")), args...); err != nil {
			return err
		}
	}
	return nil
}

// commitRejects moves the staged rejects into meta.rejects and counts them.
func (w *Warehouse) commitRejects(ctx context.Context, runID string, at time.Time) error {
	if _, err := w.execSQL(ctx, `INSERT INTO meta.rejects SELECT ?, account, table_name, record_key, reason, raw, ?, NULL FROM stage_rejects`, runID, at.UTC()); err != nil {
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
	w.execSQL(ctx, "DELETE FROM stage_rejects")
	w.staged = map[string]*stagedTable{}
	w.pendingRows = 0
	w.stagedRows = 0
	w.drift = map[driftKey]string{}
	w.cursors = map[[2]string]string{}
	w.archived = map[string]archiveMark{}
	w.details = nil
	w.completes, w.gones = nil, nil
	w.zones = nil
}
