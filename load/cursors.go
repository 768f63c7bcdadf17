package load

// Cursors and archive marks: where each account's listings stand, and
// which archive files a run has written, staged with the run's rows and
// committed in the same transaction.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

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
