package load

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/repairshop/export/schema"
)

// History and deletes.
//
// A table declared with History keeps every version of its rows in
// <table>_history: one version per run that saw the row change, valid from
// the start of that run (parsed from its id, so a rebuild from the archive
// alone gives the same instants) until the next version's. A run that
// changes a row twice (a list page, then its detail, checkpoints apart)
// leaves one version: the second change replaces the first in place. So
// does a detail a later run fetches for the change a listing saw (the run
// that listed it was capped or killed before the detail): an interrupted
// export leaves the versions an uninterrupted one would. The versions are
// written in the checkpoint that upserts the row.
//
// A row is deleted (deleted_at set, the row kept) when a complete listing
// of its resource no longer returns it (MarkComplete), or its detail
// answers 404 (MarkGone); its history gets a version with deleted set. A
// row seen again is live again: the staged row, deleted_at NULL, differs
// from the stored one and is upserted.

// runStartSQL is the start of the run whose id is in col: parsed from the
// id the runs carry (20261129T021500.000Z-…), else the run's row in
// meta.runs, else fallback.
func runStartSQL(col, fallback string) string {
	return fmt.Sprintf(`coalesce(CAST(try_strptime(left(%s, 19), '%%Y%%m%%dT%%H%%M%%S.%%g') AS TIMESTAMPTZ), (SELECT r.started_at FROM meta.runs r WHERE r.run_id = %s), %s)`, col, col, fallback)
}

// RunIDLayout is how an export run's id starts: the run's start in UTC.
// A random suffix follows.
const RunIDLayout = "20060102T150405.000Z"

// historyOf is the table a table's versions are written to (its shadow in
// a rebuild), or "" without history.
func (w *Warehouse) historyOf(t *schema.Table) string {
	if t.HistoryTable == nil {
		return ""
	}
	return w.target(t.HistoryTable)
}

// writeVersions records the changed rows of a classified table as
// versions; the caller holds the checkpoint's transaction.
func (w *Warehouse) writeVersions(ctx context.Context, st *stagedTable, runID string) error {
	t := st.table
	hist := w.historyOf(t)
	if hist == "" || !st.has(opInsert, opUpdate) {
		return nil // no new version
	}
	changed := fmt.Sprintf(`SELECT *, %s AS _from FROM %s d WHERE d._op IN ('insert', 'update')`, runStartSQL("d.run_id", "d.extracted_at"), Quote(st.delta))
	if id, ok := detailID(t); ok {
		// A version a list page wrote while its record's detail was due
		// (no detail fetched since: it was left for a later run, by a
		// capped or interrupted one) is completed in place, valid from when
		// the listing saw the change: the record changed once, not twice.
		// Run ids sort as their starts do.
		changed = fmt.Sprintf(`SELECT d.*, coalesce(p.valid_from, %s) AS _from FROM %s d
			LEFT JOIN (SELECT h.account, h.%s, h.valid_from FROM %s h JOIN %s q
				ON q.account = h.account AND q.resource = '%s' AND q.id = CAST(h.%s AS VARCHAR)
				WHERE h.valid_to IS NULL AND NOT h.deleted
				AND q.detail_fingerprint IS DISTINCT FROM q.list_fingerprint
				AND (q.fetched_run IS NULL OR q.fetched_run < h.run_id)) p
			ON p.account = d.account AND p.%s = d.%s
			WHERE d._op IN ('insert', 'update')`,
			runStartSQL("d.run_id", "d.extracted_at"), Quote(st.delta), id, hist, w.detailsTable(), t.Resource, id, id, id)
	}
	// A top-level row's versions are written with it (it is never removed):
	// a row new to the table has none to replace.
	stored := st.storedRows()
	if t.IsChild() {
		// A line deleted from its parent and added back in one run has a
		// version of this run to replace, though its row was removed.
		stored = ""
	}
	if err := w.newVersions(ctx, t, hist, changed, nil, runID, stored); err != nil {
		return err
	}
	if !st.has(opUpdate) {
		return nil
	}
	// The version an update closed is in its row's old partition.
	queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
		SELECT DISTINCT '%s', d.account, d._oy, d._om, ? FROM %s d WHERE d._op = 'update' AND d._oy IS NOT NULL
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, t.HistoryTable.FullName(), Quote(st.delta))
	if err := w.queueChanged(ctx, t.HistoryTable, queue, runID); err != nil {
		return fmt.Errorf("history: queue Parquet partitions: %w", err)
	}
	return nil
}

// newVersions closes the current versions of the rows that rows selects
// (with args: the table's columns and _from, the new version's start) and
// adds theirs. A current version from the same run is replaced instead.
// Into a rebuild's keyless shadow, stored selects the rows that may have
// a version (see replaceRows): the others have none to close or replace.
func (w *Warehouse) newVersions(ctx context.Context, t *schema.Table, hist, rows string, args []any, runID, stored string) error {
	closing := rows
	if stored != "" && w.keyless(t.HistoryTable) {
		closing = fmt.Sprintf("SELECT * FROM (%s) d WHERE %s", rows, stored)
	}
	add := fmt.Sprintf(`SELECT d.* EXCLUDE (_from), d._from AS valid_from, NULL::TIMESTAMPTZ AS valid_to, d.deleted_at IS NOT NULL AS deleted FROM (%s) d`, rows)
	queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
		SELECT DISTINCT '%s', d.account, %s, ? FROM (%s) d
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, t.HistoryTable.FullName(), partitionExpr(t, "d"), rows)
	if stored != noneStored { // new rows have no version to close
		if err := w.closeVersions(ctx, t, hist, closing, args); err != nil {
			return fmt.Errorf("history: close versions: %w", err)
		}
	}
	if err := w.replaceRows(ctx, t.HistoryTable, hist, add, args, stored); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := w.queueChanged(ctx, t.HistoryTable, queue, append([]any{runID}, args...)...); err != nil {
		return fmt.Errorf("history: queue Parquet partitions: %w", err)
	}
	return nil
}

// closeVersions ends the current versions of the rows that rows selects
// (with args; _from: the new version's start) at their _from. In a
// history larger than a row group (see large), and in a rebuild's, the
// closed versions are deleted and inserted again, closed, rather than
// updated: DuckDB checkpointed the history at each commit that updated
// valid_to beside new versions, and a checkpoint of 2,000 changed
// tickets spread over a million took 0.95-1.1 s so, 0.44-0.46 s this
// way. rows may read hist: the closed versions are read once, before the
// delete.
func (w *Warehouse) closeVersions(ctx context.Context, t *schema.Table, hist, rows string, args []any) error {
	current := fmt.Sprintf(`%s AND h.valid_to IS NULL AND h.run_id <> d.run_id AND h.valid_from <> d._from`, keyJoin(t, "h", "d"))
	big := w.keyless(t.HistoryTable)
	if !big {
		var err error
		if big, err = w.large(ctx, t.HistoryTable); err != nil {
			return err
		}
	}
	if !big { // a row group at most, which its UPDATE rewrites
		_, err := w.execSQL(ctx, fmt.Sprintf(`UPDATE %s h SET valid_to = d._from FROM (%s) d WHERE %s`, hist, rows, current), args...)
		return err
	}
	closed := fmt.Sprintf(`SELECT h.* REPLACE (d._from AS valid_to) FROM %s h JOIN (%s) d ON %s`, hist, rows, current)
	return w.deleteAndInsert(ctx, t.HistoryTable, hist, closed, args, "")
}

// detailID is the quoted id column of a table keyed (account, id), whose
// records the detail queue can name; false for another key.
func detailID(t *schema.Table) (string, bool) {
	if len(t.Key) != 2 || t.Key[0] != schema.ColAccount {
		return "", false
	}
	return Quote(t.Key[1]), true
}

// seedHistory gives every row of a table whose history table was just
// created its current version, so that history starts from what the
// warehouse holds.
func (w *Warehouse) seedHistory(ctx context.Context, t *schema.Table) error {
	cols := columnList(t, "")
	_, err := w.execSQL(ctx, fmt.Sprintf(`INSERT INTO %s (%s, valid_from, valid_to, deleted)
		SELECT %s, %s, NULL, deleted_at IS NOT NULL FROM %s t`,
		quotedName(t.HistoryTable), cols, columnList(t, "t."), runStartSQL("t.run_id", "t.extracted_at"), quotedName(t)))
	return err
}

// completion is a complete listing staged for the next checkpoint: every
// row of the table (those whose fixed columns have these values) that the
// run did not see is deleted.
type completion struct {
	account string
	table   *schema.Table
	fixed   map[string]string
	runID   string
	at      time.Time
}

// gone is a record whose detail answered 404, staged for the next
// checkpoint.
type gone struct {
	account string
	table   *schema.Table
	id      string
	runID   string
	at      time.Time
}

// MarkComplete says that a listing of t's resource that returned every
// record of the account (from its first page to its last, without a
// filter) ended with a page staged in this run; fixed are the values of
// the request's FromRequest columns (the rows it covers: one type of
// custom field). At the next checkpoint, the account's rows the run did
// not see are deleted as of at. A listing cut short never calls it.
func (w *Warehouse) MarkComplete(account string, t *schema.Table, fixed map[string]string, runID string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.IsChild() {
		return
	}
	w.completes = append(w.completes, completion{account, t, fixed, runID, at})
}

// MarkGone says that the detail of the record id of t answered 404 at at:
// the row is deleted at the next checkpoint.
func (w *Warehouse) MarkGone(account string, t *schema.Table, id, runID string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.IsChild() || len(t.Key) != 2 {
		return
	}
	w.gones = append(w.gones, gone{account, t, id, runID, at})
}

// rememberSeen notes the keys a classified top-level table staged, with
// the run that staged them: a complete listing deletes what its run did
// not see. The caller holds the checkpoint's transaction.
func (w *Warehouse) rememberSeen(ctx context.Context, st *stagedTable) error {
	if st.table.IsChild() || !st.has(opInsert, opUpdate, opSame) {
		return nil
	}
	_, err := w.execSQL(ctx, fmt.Sprintf(`INSERT INTO %s SELECT DISTINCT d.account, d.run_id, %s FROM %s d WHERE d._op <> 'delete'`,
		runTable(runSeen, st.table.FullName()), countKey(st.table, "d"), Quote(st.delta)))
	return err
}

// ForgetSeen drops what the run saw of an account: a rebuild replays the
// runs one archive file (one run of one account) after another, each file's
// pages ending in a checkpoint, and a listing never spans two files.
func (w *Warehouse) ForgetSeen(ctx context.Context, runID, account string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(w.runTables)) {
		if t := w.tables[name]; t != nil && t.IsChild() {
			continue // a child table's keys are not remembered (rememberSeen)
		}
		if _, err := w.execSQL(ctx, fmt.Sprintf(`DELETE FROM %s WHERE run_id = ? AND account = ?`, runTable(runSeen, name)), runID, account); err != nil {
			return err
		}
	}
	return nil
}

// commitDeletes deletes the rows the staged completions and 404s name;
// the caller holds the checkpoint's transaction (of run runID), after the
// upserts.
func (w *Warehouse) commitDeletes(ctx context.Context, runID string) error {
	for _, c := range w.completes {
		t := c.table
		conds := []string{"t.account = ?", fmt.Sprintf("NOT EXISTS (SELECT 1 FROM %s s WHERE s.account = t.account AND s.run_id = ? AND s.k = %s)", runTable(runSeen, t.FullName()), countKey(t, "t"))}
		args := []any{c.account, c.runID}
		for _, col := range t.Columns {
			if v, ok := c.fixed[col.Name]; ok && col.Fixed {
				conds = append(conds, "t."+Quote(col.Name)+" = ?")
				args = append(args, v)
			}
		}
		if err := w.deleteRows(ctx, t, c.account, strings.Join(conds, " AND "), args, c.runID, c.at, runID); err != nil {
			return fmt.Errorf("%s: rows a complete listing no longer returns: %w", t.FullName(), err)
		}
	}
	for _, g := range w.gones {
		t := g.table
		cond := fmt.Sprintf("t.account = ? AND CAST(t.%s AS VARCHAR) = ?", Quote(t.Key[1]))
		if err := w.deleteRows(ctx, t, g.account, cond, []any{g.account, g.id}, g.runID, g.at, runID); err != nil {
			return fmt.Errorf("%s %s: a record whose detail answered 404: %w", t.FullName(), g.id, err)
		}
	}
	return nil
}

// deleteRows marks the live rows of t that cond selects (alias t) deleted
// as of at by the run runID saw it: a version in the history, their
// partitions queued (by the checkpoint's run, queuedBy), the run's count.
func (w *Warehouse) deleteRows(ctx context.Context, t *schema.Table, account, cond string, args []any, runID string, at time.Time, queuedBy string) error {
	tgt := w.target(t)
	// Most checks find nothing to delete (every complete listing of every
	// account and table asks): count the rows alone, not through the
	// versions' projection (a rebuild of nightly runs of four shops spent
	// 167 ms a night in these counts so, 114 ms this way).
	var n int64
	if err := w.conn.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s t WHERE t.deleted_at IS NULL AND %s", tgt, cond), args...).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if hist := w.historyOf(t); hist != "" {
		sel := fmt.Sprintf(`SELECT t.* REPLACE (CAST(? AS TIMESTAMPTZ) AS deleted_at, CAST(? AS VARCHAR) AS run_id), %s AS _from
			FROM %s t WHERE t.deleted_at IS NULL AND %s`, runStartSQL("CAST(? AS VARCHAR)", "CAST(? AS TIMESTAMPTZ)"), tgt, cond)
		selArgs := append([]any{at.UTC(), runID, runID, runID, at.UTC()}, args...)
		if err := w.newVersions(ctx, t, hist, sel, selArgs, queuedBy, ""); err != nil {
			return err
		}
	}
	queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
		SELECT DISTINCT '%s', t.account, %s, ? FROM %s t WHERE t.deleted_at IS NULL AND %s
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, t.FullName(), partitionExpr(t, "t"), tgt, cond)
	if err := w.queueChanged(ctx, t, queue, append([]any{queuedBy}, args...)...); err != nil {
		return fmt.Errorf("queue Parquet partitions: %w", err)
	}
	upd := fmt.Sprintf(`UPDATE %s t SET deleted_at = ?, run_id = ? WHERE t.deleted_at IS NULL AND %s`, tgt, cond)
	if _, err := w.execSQL(ctx, upd, append([]any{at.UTC(), runID}, args...)...); err != nil {
		return err
	}
	w.statsFor(account, t.FullName()).Deleted += n
	return nil
}
