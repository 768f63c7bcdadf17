package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
)

// PickTables resolves --table names ("mgr.tickets" or "tickets"; a child
// table means its parent, which carries its rows) to top-level tables; none
// means every one.
func PickTables(names []string) ([]*schema.Table, error) {
	var out []*schema.Table
	if len(names) == 0 {
		for _, t := range sources.Tables() {
			if !t.IsChild() {
				out = append(out, t)
			}
		}
		return out, nil
	}
	seen := map[*schema.Table]bool{}
	for _, n := range names {
		var found *schema.Table
		for _, t := range sources.Tables() {
			if t.FullName() == n || t.Name == n {
				found = t
				break
			}
		}
		if found == nil {
			return nil, config.Usagef("rebuild: no table %q (see `repairshop-export schema`)", n)
		}
		if found.Parent != nil {
			found = found.Parent
		}
		if !seen[found] {
			seen[found] = true
			out = append(out, found)
		}
	}
	return out, nil
}

// ReplayStats is what a rebuild read from the raw archive.
type ReplayStats struct {
	Files, Pages, Skipped int
	Bytes                 int64
	// Truncated are files that end in a partial page (a run was killed
	// while writing it); their whole pages were used.
	Truncated []string
}

// Rebuild re-runs transform and load over the raw archive: no network, no
// rate budget. The chosen tables (none: all) are emptied and refilled, run
// by original run in order, with each page's original run id and fetch
// time, inside one transaction; then their Parquet partitions are
// rewritten. allowUnarchived rebuilds even though earlier runs loaded rows
// they did not archive (those rows are lost).
func Rebuild(ctx context.Context, cfg *config.Config, tableNames []string, allowUnarchived bool, opt Options) (Report, error) {
	opt.defaults()
	clock, log := opt.Clock, opt.Log
	tables, err := PickTables(tableNames)
	if err != nil {
		return Report{}, err
	}
	chosen := map[*schema.Table]bool{}
	for _, t := range tables {
		chosen[t] = true
	}
	raw := cfg.RawDir()
	files, err := archive.List(raw)
	if err != nil {
		return Report{}, err
	}
	if len(files) == 0 {
		return Report{}, fmt.Errorf("rebuild: no raw archive under %s (runs archive what they fetch there; set `raw:` in the config if it lives elsewhere)", raw)
	}
	var accounts []string
	for _, f := range files {
		if !slices.Contains(accounts, f.Account) {
			accounts = append(accounts, f.Account)
		}
	}
	sort.Strings(accounts)

	started := clock.Now()
	w, done, err := OpenForWrite(ctx, cfg, "repairshop-export rebuild", started, opt.Hook)
	if err != nil {
		return Report{}, err
	}
	defer done()
	if runs, err := w.UnarchivedRuns(ctx, accounts); err != nil {
		return Report{}, err
	} else if len(runs) > 0 && !allowUnarchived {
		return Report{}, fmt.Errorf("rebuild: %d earlier run(s) loaded rows without archiving them (%s); rows only they loaded would be lost. Pass --allow-unarchived to rebuild anyway",
			len(runs), strings.Join(runs[:min(len(runs), 3)], ", "))
	}
	marks, err := w.ArchiveMarks(ctx)
	if err != nil {
		return Report{}, err
	}
	// With no marks at all the warehouse is new (or was lost): replay every
	// whole page. Otherwise replay exactly what each run committed.
	useMarks := len(marks) > 0

	runID := newRunID(started)
	if err := w.BeginRebuild(ctx, runID, started, tables, accounts); err != nil {
		return Report{}, err
	}
	log.Info("rebuild started", "run", runID, "tables", len(tables), "accounts", strings.Join(accounts, ","), "archive", raw)
	st := &ReplayStats{}
	replay := func() error {
		for i := 0; i < len(files); {
			// One original run (all its accounts) per checkpoint, as it was loaded.
			w.Replaying(files[i].RunID)
			j := i
			for j < len(files) && files[j].RunID == files[i].RunID {
				limit := -1
				if useMarks {
					limit = marks[files[j].Rel] // 0: the run died before committing any
				}
				if err := replayFile(ctx, w, raw, files[j], chosen, limit, st, opt); err != nil {
					return err
				}
				j++
			}
			if err := w.Checkpoint(ctx, runID, clock.Now()); err != nil {
				return err
			}
			for _, f := range files[i:j] { // its listings are complete or not by now
				if err := w.ForgetSeen(ctx, f.RunID, f.Account); err != nil {
					return err
				}
			}
			i = j
		}
		return nil
	}
	err = replay()
	if err == nil {
		err = w.Checkpoint(ctx, runID, clock.Now())
	}
	if err == nil {
		err = w.EndRebuild(ctx, true) // the swap: all or nothing
	} else {
		err = errors.Join(err, w.EndRebuild(ctx, false))
	}
	if err != nil {
		w.Finish(context.WithoutCancel(ctx), runID, clock.Now(), load.StatusFailed, nil, err.Error())
		return Report{}, fmt.Errorf("rebuild failed, tables unchanged: %w", err)
	}
	rep := Report{ParquetRoot: cfg.Parquet, Replay: st}
	if rep.Summary, err = w.Finish(ctx, runID, clock.Now(), load.StatusOK, nil, ""); err != nil {
		return rep, fmt.Errorf("rebuild: %w", err)
	}
	rep.Took = clock.Now().Sub(started)
	if rep.Published, err = publish(ctx, w, cfg, runID, clock); err != nil {
		rep.Unpublished = true
		return rep, err
	}
	if rep.Lake, err = publishLake(ctx, w, runID, opt.Lake); err != nil {
		return rep, err
	}
	if n := rep.Summary.Totals().Rejected; n > 0 {
		return rep, fmt.Errorf("%w: %d archived record(s) do not fit the declarations", ErrRejected, n)
	}
	return rep, nil
}

// replayFile stages the first limit pages of one archive file (-1: all).
// A reader goroutine reads the pages in order and two workers decode and
// transform them, while this goroutine stages them, in the archive's
// order: the transform, the rebuild's costliest Go work, gets a core of
// its own whenever DuckDB is not using both.
func replayFile(ctx context.Context, w *load.Warehouse, raw string, f archive.File, chosen map[*schema.Table]bool, limit int, st *ReplayStats, opt Options) error {
	st.Files++
	if info, err := os.Stat(filepath.Join(raw, f.Rel)); err == nil {
		st.Bytes += info.Size()
	}
	src, known := sources.Lookup(f.Source)
	type item struct {
		e    archive.Entry
		rows *prepared // nil: nothing to stage
		err  error
	}
	type job struct {
		e    archive.Entry
		done chan item
	}
	const workers = 2
	jobs, order := make(chan job, workers), make(chan chan item, 8)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readErr error
	go func() {
		defer close(order)
		defer close(jobs)
		read := 0
		readErr = archive.Read(raw, f.Rel, func(e archive.Entry) error {
			if read++; limit >= 0 && read > limit {
				// Archived after the last checkpoint of a killed run: the
				// warehouse never held it.
				st.Skipped++
				return nil
			}
			if !known {
				opt.Log.Warn("archived source is not known; skipped", "file", f.Rel, "source", f.Source)
				return nil
			}
			j := job{e, make(chan item, 1)}
			select { // its place in the order first, then the work
			case order <- j.done:
			case <-rctx.Done():
				return rctx.Err()
			}
			select {
			case jobs <- j:
			case <-rctx.Done():
				j.done <- item{e: e, err: rctx.Err()}
				return rctx.Err()
			}
			return nil
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				it := item{e: j.e}
				d, err := decode(src, j.e)
				switch {
				case err != nil:
					it.err = fmt.Errorf("%s: %s page %d: %w", f.Rel, j.e.Resource, j.e.Seq, err)
				case d.Table == nil:
					opt.Log.Warn("archived resource has no table; skipped", "file", f.Rel, "resource", j.e.Resource)
				case chosen[d.Table]:
					if it.rows, err = prepare(j.e, d); err != nil {
						it.err = fmt.Errorf("%s: %w", f.Rel, err)
					}
				}
				j.done <- it
			}
		}()
	}
	defer wg.Wait()
	items := make(chan item)
	go func() {
		defer close(items)
		for done := range order {
			it := <-done
			select {
			case items <- it:
			case <-rctx.Done():
				if it.rows != nil {
					it.rows.release()
				}
			}
		}
	}()
	var stageErr error
	for it := range items {
		if stageErr == nil && it.err != nil {
			stageErr = it.err
			cancel()
		}
		if it.rows == nil {
			continue
		}
		if stageErr != nil {
			it.rows.release() // drain so the reader can finish
			continue
		}
		if stageErr = it.rows.stage(ctx, w, it.e); stageErr != nil {
			stageErr = fmt.Errorf("%s: %w", f.Rel, stageErr)
			cancel()
			continue
		}
		st.Pages++
		if w.PendingRows() >= load.CheckpointRows {
			// Bounded memory: the pages go on to DuckDB's staging tables,
			// which spill to disk; the run folds in one checkpoint.
			if stageErr = w.Spill(ctx); stageErr != nil {
				cancel()
			}
		}
	}
	if stageErr != nil {
		return stageErr
	}
	if errors.Is(readErr, archive.ErrTruncated) {
		st.Truncated = append(st.Truncated, f.Rel)
		readErr = nil
	}
	return readErr
}
