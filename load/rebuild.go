package load

// Rebuild shadows: a rebuild loads into shadow tables beside the real
// ones and swaps them in only when it completes, so a failed or killed
// rebuild leaves the warehouse as it was.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/repairshop/export/schema"
)

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
	// replaying is the archived run whose pages the next checkpoint
	// commits (see Replaying).
	replaying string
}

// Replaying says which archived run the pages staged until the next
// checkpoint come from: the detail queue records them as that run's
// listings and fetches, as the run itself did, so that a later replayed
// run decides what is due, and which listed version a detail completes
// (writeVersions), as it did. Outside a rebuild it does nothing.
func (w *Warehouse) Replaying(runID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rebuild != nil {
		w.rebuild.replaying = runID
	}
}

// notesRun is the run the detail queue's notes are written as: the
// checkpoint's own, or in a rebuild the replayed run's.
func (w *Warehouse) notesRun(runID string) string {
	if w.rebuild != nil && w.rebuild.replaying != "" {
		return w.rebuild.replaying
	}
	return runID
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
	if err := w.exec(ctx, "SET allocator_bulk_deallocation_flush_threshold = "+sqlString(rebuildFlush)); err != nil {
		return err
	}
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
			if err := w.queuePartitions(ctx, t, quotedName(t), in, runID); err != nil {
				return err
			}
			shadow := shadowTable(t)
			cols := columnList(t, "")
			if err := w.exec(ctx,
				tableDDL(t, "CREATE OR REPLACE TABLE "+shadow, false),
				fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE account NOT IN %s", shadow, cols, cols, quotedName(t), in),
			); err != nil {
				return fmt.Errorf("rebuild %s: shadow table: %w", t.FullName(), err)
			}
		}
		// The replay writes the detail queue as the runs did, from none of
		// the rebuilt records: what was due when a run listed a record, and
		// whether its detail then completed the listing's version, depend
		// on the queue as it was then, not as it is now. Records of other
		// accounts and resources are kept as they are.
		var resources []string
		for _, t := range tables {
			if t.Resource != "" && !slices.Contains(resources, sqlString(t.Resource)) {
				resources = append(resources, sqlString(t.Resource))
			}
		}
		kept := "SELECT * FROM meta.details"
		if len(resources) > 0 {
			kept += fmt.Sprintf(" WHERE NOT (account IN %s AND resource IN (%s))", in, strings.Join(resources, ", "))
		}
		return w.exec(ctx,
			strings.Replace(detailsDDL, "CREATE TABLE IF NOT EXISTS meta.details", "CREATE OR REPLACE TABLE "+shadowDetails, 1),
			"INSERT INTO "+shadowDetails+" "+kept)
	})
	if err != nil {
		w.dropShadows(ctx)
		return err
	}
	w.rebuild = rb
	return nil
}

// Each replayed run's checkpoint frees its delta and staging tables in
// bulk; DuckDB hands such a release back to the system only past its
// allocator_bulk_deallocation_flush_threshold (512 MiB by default), and the
// rebuild's RSS carried each run's as it began the next: a million-ticket
// rebuild peaked at 565-637 MB, and at 479-499 MB with rebuildFlush, 1 to
// 2 s slower in 50 (4 MB gave back little of it). It holds for the rest of
// the warehouse's life (the rebuild's Parquet and lake publish too:
// without it the publish peaked at 578 MB). But then every statement that
// frees more than 1 MB hands it back, and the next one faults it in
// again: a checkpoint of fewer than smallReplayRows rows, which frees
// little, runs with DuckDB's default (see holdFreedMemory). A rebuild of
// 42 nightly runs of four small shops (7,000 to 20,000 rows each) took
// 163 s with rebuildFlush throughout, 75 s so, peaking at 413 and 475 MB.
const rebuildFlush = "1MB"

// smallReplayRows is the most rows a rebuild's checkpoint stages that it
// commits without handing freed memory back (a variable for tests).
var smallReplayRows int64 = 50_000

// holdFreedMemory, in a rebuild whose checkpoint staged fewer than
// smallReplayRows rows, sets DuckDB's default threshold for handing freed
// memory back until the function it returns is called.
func (w *Warehouse) holdFreedMemory(ctx context.Context) func() {
	if w.rebuild == nil || w.stagedRows >= smallReplayRows {
		return func() {}
	}
	ctx = context.WithoutCancel(ctx)
	if w.exec(ctx, "RESET allocator_bulk_deallocation_flush_threshold") != nil {
		return func() {} // the setting stays as it was: slower, not wrong
	}
	return func() { w.exec(ctx, "SET allocator_bulk_deallocation_flush_threshold = "+sqlString(rebuildFlush)) }
}

// keyShadows gives each shadow table its primary key, built once over
// all its rows: the shadows are filled without one (an index maintained
// row by row, and written again at every commit, cost a rebuild most of
// its time). A key that is not unique fails the rebuild here, before the
// swap, and the tables stay as they were.
func (w *Warehouse) keyShadows(ctx context.Context, names []string) error {
	for _, n := range names {
		t := w.tables[n]
		if t == nil {
			return fmt.Errorf("end rebuild: table %s is not declared", n)
		}
		if err := w.exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s)", shadowTable(t), quoteList(t.Key))); err != nil {
			return fmt.Errorf("end rebuild: key %s: %w", n, err)
		}
	}
	return nil
}

// queueRebuilt queues for the Parquet publish (and the lake) every
// partition the rebuilt accounts have in the shadows, in the swap's
// transaction. A checkpoint queues the partitions its rows changed, one
// statement per table each time; a rebuild rewrites every partition of
// its accounts (BeginRebuild queued those they had), so it queues them
// once here instead: 21 statements, 1.6 s of a million-ticket rebuild.
func (w *Warehouse) queueRebuilt(ctx context.Context, rb *rebuildState, names []string) error {
	for _, n := range names {
		if err := w.queuePartitions(ctx, w.tables[n], shadowTable(w.tables[n]), rb.accounts, rb.runID); err != nil {
			return err
		}
	}
	if err := w.queueViews(ctx, rb.runID); err != nil {
		return fmt.Errorf("rebuild: queue the views: %w", err)
	}
	if err := w.queueLake(ctx, rb.runID); err != nil {
		return fmt.Errorf("rebuild: queue for the lake: %w", err)
	}
	return nil
}

// queueChanged runs queue, a checkpoint's INSERT INTO meta.publish_queue
// of the partitions its rows of t changed, with args; into a rebuild's
// shadow it does nothing: the rebuild queues them at the swap.
func (w *Warehouse) queueChanged(ctx context.Context, t *schema.Table, queue string, args ...any) error {
	if w.keyless(t) {
		return nil
	}
	_, err := w.execSQL(ctx, queue, args...)
	return err
}

// queuePartitions queues every partition of table t that relation (t or
// its shadow) holds for the accounts (a SQL list).
func (w *Warehouse) queuePartitions(ctx context.Context, t *schema.Table, relation, accounts, runID string) error {
	queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
		SELECT DISTINCT '%s', account, y, m, ? FROM (SELECT t.account, %s FROM %s t WHERE t.account IN %s) p(account, y, m) WHERE y IS NOT NULL
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, t.FullName(), partitionExpr(t, "t"), relation, accounts)
	if _, err := w.execSQL(ctx, queue, runID); err != nil {
		return fmt.Errorf("rebuild %s: queue partitions: %w", t.FullName(), err)
	}
	return nil
}

// keyless says whether rows go to a shadow without a primary key: the
// writers then replace rows by delete and insert, where they otherwise
// use INSERT OR REPLACE; and their partitions are queued at the swap
// (queueRebuilt), not by each checkpoint (queueChanged).
func (w *Warehouse) keyless(t *schema.Table) bool {
	return w.rebuild != nil && w.rebuild.tables[t.FullName()]
}

// shadowDetails is the detail queue a rebuild replays into.
var shadowDetails = "meta." + Quote("details"+shadowSuffix)

func shadowTable(t *schema.Table) string { return Quote(t.Source) + "." + Quote(t.Name+shadowSuffix) }

// target is the table rows go to: the table, or its shadow in a rebuild.
func (w *Warehouse) target(t *schema.Table) string {
	if w.keyless(t) {
		return shadowTable(t)
	}
	return quotedName(t)
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
	names := make([]string, 0, len(rb.tables))
	for n := range rb.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	var err error
	if commit {
		err = w.keyShadows(ctx, names)
		w.at(HookShadowsKeyed)
	}
	if commit && err == nil {
		err = w.inTx(ctx, func() error {
			if err := w.queueRebuilt(ctx, rb, names); err != nil {
				return err
			}
			for _, n := range names {
				t := w.tables[n]
				if err := w.exec(ctx,
					"DROP TABLE "+quotedName(t),
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
				if _, err := w.execSQL(ctx, q, rb.runID); err != nil {
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
