package load

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
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
	HookBeforeRename   = "publish:before-rename"    // a Parquet file written under its temporary name
	HookAfterRename    = "publish:after-rename"     // a partition in place, queue not yet updated
	HookBeforeManifest = "publish:before-manifest"  // partitions in place, manifest written aside
	HookShadowsKeyed   = "rebuild:keyed"            // a rebuild's shadows keyed, not yet swapped in
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
	// The rows the run counted (see upsertTable) and the keys it saw (see
	// commitDeletes), from none: a run that did not finish may have left
	// its tables.
	if err := w.dropRunTables(ctx); err != nil {
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
	_, err = w.execSQL(ctx, `UPDATE meta.runs SET status = ?, error = coalesce(error, 'the process stopped before the run finished; checkpointed rows are kept') WHERE status = ?`, StatusInterrupted, StatusRunning)
	if err == nil {
		_, err = w.execSQL(ctx, `INSERT INTO meta.runs (run_id, kind, started_at, status) VALUES (?, ?, ?, ?)`, runID, kind, started.UTC(), StatusRunning)
	}
	if err != nil {
		return fmt.Errorf("begin run %s: %w", runID, err)
	}
	return nil
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
		_, err := w.execSQL(ctx, `UPDATE meta.runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?`,
			finished.UTC(), status, nullable(runErr), runID)
		return err
	})
	if err != nil {
		return sum, fmt.Errorf("finish run %s: %w", runID, err)
	}
	// The run's keys, counted and seen, are done with: their memory goes
	// back before the publish (60 MB for a run of 458,566 rows, measured
	// while they were one table for all).
	if err := w.dropRunTables(ctx); err != nil {
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
	if _, err := w.execSQL(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(); err != nil {
		w.dayZones = "" // a macro defined in the transaction is gone with it
		// Roll back on a fresh context: ctx may be what was cancelled.
		if _, rerr := w.execSQL(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if _, err := w.execSQL(ctx, "COMMIT"); err != nil {
		w.dayZones = ""
		w.execSQL(context.WithoutCancel(ctx), "ROLLBACK")
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

func sortStats(s []TableStats) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Account != s[j].Account {
			return s[i].Account < s[j].Account
		}
		return s[i].Table < s[j].Table
	})
}
