package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
)

// pickTables resolves --table names ("mgr.tickets" or "tickets"; a child
// table means its parent, which carries its rows) to top-level tables.
func pickTables(names []string) ([]*schema.Table, error) {
	var out []*schema.Table
	seen := map[*schema.Table]bool{}
	for _, n := range names {
		var found *schema.Table
		for _, t := range schema.All {
			if t.FullName() == n || t.Name == n {
				found = t
				break
			}
		}
		if found == nil {
			return nil, usagef("rebuild: no table %q (see `export schema`)", n)
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

type rebuildStats struct {
	files, pages, skipped int
	bytes                 int64
	truncated             []string
}

// rebuild re-runs transform and load over the raw archive: no network, no
// rate budget. The chosen tables are emptied and refilled, run by original
// run in order, with each page's original run id and fetch time, inside one
// transaction; then their Parquet partitions are rewritten.
func rebuild(ctx context.Context, cfg *Config, tableNames []string, allowUnarchived bool, clock budget.Clock, log *slog.Logger, out io.Writer) (load.Summary, error) {
	tables := []*schema.Table{}
	for _, t := range schema.All {
		if !t.IsChild() {
			tables = append(tables, t)
		}
	}
	if len(tableNames) > 0 {
		var err error
		if tables, err = pickTables(tableNames); err != nil {
			return load.Summary{}, err
		}
	}
	chosen := map[*schema.Table]bool{}
	for _, t := range tables {
		chosen[t] = true
	}
	raw := cfg.rawDir()
	files, err := archive.List(raw)
	if err != nil {
		return load.Summary{}, err
	}
	if len(files) == 0 {
		return load.Summary{}, fmt.Errorf("rebuild: no raw archive under %s (runs archive what they fetch there; set `raw:` in the config if it lives elsewhere)", raw)
	}
	var accounts []string
	for _, f := range files {
		if !slices.Contains(accounts, f.Account) {
			accounts = append(accounts, f.Account)
		}
	}
	sort.Strings(accounts)

	started := clock.Now()
	w, done, err := openForWrite(ctx, cfg, "export rebuild", started)
	if err != nil {
		return load.Summary{}, err
	}
	defer done()
	if runs, err := w.UnarchivedRuns(ctx, accounts); err != nil {
		return load.Summary{}, err
	} else if len(runs) > 0 && !allowUnarchived {
		return load.Summary{}, fmt.Errorf("rebuild: %d earlier run(s) loaded rows without archiving them (%s); rows only they loaded would be lost. Pass --allow-unarchived to rebuild anyway",
			len(runs), strings.Join(runs[:min(len(runs), 3)], ", "))
	}
	marks, err := w.ArchiveMarks(ctx)
	if err != nil {
		return load.Summary{}, err
	}
	// With no marks at all the warehouse is new (or was lost): replay every
	// whole page. Otherwise replay exactly what each run committed.
	useMarks := len(marks) > 0

	runID := newRunID(started)
	if err := w.BeginRebuild(ctx, runID, started, tables, accounts); err != nil {
		return load.Summary{}, err
	}
	log.Info("rebuild started", "run", runID, "tables", len(tables), "accounts", strings.Join(accounts, ","), "archive", raw)
	var st rebuildStats
	replay := func() error {
		for i := 0; i < len(files); {
			// One original run (all its accounts) per checkpoint, as it was loaded.
			j := i
			for j < len(files) && files[j].RunID == files[i].RunID {
				if err := replayFile(ctx, w, raw, files[j], chosen, marks, useMarks, &st, log); err != nil {
					return err
				}
				j++
			}
			if err := w.Checkpoint(ctx, runID, clock.Now()); err != nil {
				return err
			}
			i = j
		}
		return nil
	}
	if err := replay(); err != nil {
		err = errors.Join(err, w.EndRebuild(ctx, false))
		w.Finish(context.WithoutCancel(ctx), runID, clock.Now(), load.StatusFailed, nil, err.Error())
		return load.Summary{}, fmt.Errorf("rebuild failed, tables unchanged: %w", err)
	}
	sum, err := w.Finish(ctx, runID, clock.Now(), load.StatusOK, nil, "")
	if err == nil {
		err = w.EndRebuild(ctx, true)
	} else {
		err = errors.Join(err, w.EndRebuild(ctx, false))
	}
	if err != nil {
		return sum, fmt.Errorf("rebuild failed, tables unchanged: %w", err)
	}
	took := clock.Now().Sub(started)
	printSummary(out, sum, took)
	fmt.Fprintf(out, "rebuild: replayed %d page(s) from %d archive file(s) (%.1f MB compressed), 0 API requests\n", st.pages, st.files, float64(st.bytes)/1e6)
	if st.skipped > 0 {
		fmt.Fprintf(out, "rebuild: %d archived page(s) skipped: fetched by runs that died before committing them\n", st.skipped)
	}
	for _, f := range st.truncated {
		fmt.Fprintf(out, "rebuild: %s ends in a partial page (a run was killed while writing it); its whole pages were used\n", f)
	}
	if err := publish(ctx, w, cfg, runID, clock, out); err != nil {
		return sum, err
	}
	if n := sum.Totals().Rejected; n > 0 {
		fmt.Fprintf(out, "%d record(s) rejected: see `export status` or meta.rejects\n", n)
		return sum, fmt.Errorf("%w: %d archived record(s) do not fit the declarations", errRejected, n)
	}
	return sum, nil
}

func replayFile(ctx context.Context, w *load.Warehouse, raw string, f archive.File, chosen map[*schema.Table]bool, marks map[string]int, useMarks bool, st *rebuildStats, log *slog.Logger) error {
	limit := -1
	if useMarks {
		limit = marks[f.Rel] // 0: the run died before committing any
	}
	st.files++
	if info, err := os.Stat(filepath.Join(raw, f.Rel)); err == nil {
		st.bytes += info.Size()
	}
	read := 0
	err := archive.Read(raw, f.Rel, func(e archive.Entry) error {
		if read++; limit >= 0 && read > limit {
			// Archived after the last checkpoint of a killed run: the
			// warehouse never held it.
			st.skipped++
			return nil
		}
		if !hasTable(e) {
			log.Warn("archived resource has no table; skipped", "file", f.Rel, "resource", e.Resource)
			return nil
		}
		staged, err := stageEntry(ctx, w, e, func(t *schema.Table) bool { return chosen[t] })
		if err != nil {
			return fmt.Errorf("%s: %w", f.Rel, err)
		}
		if staged {
			st.pages++
		}
		return nil
	})
	if errors.Is(err, archive.ErrTruncated) {
		st.truncated = append(st.truncated, f.Rel)
		err = nil
	}
	return err
}
