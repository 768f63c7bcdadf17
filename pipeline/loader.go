package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/load"
)

// Checkpoints: staged pages are committed (rows, cursors, archive marks in
// one transaction) every CheckpointPages pages or CheckpointEvery, whichever
// comes first, so a crash loses at most that much fetching. At MGR's 30
// requests a minute, 20 pages are 40 s of budget; at RepairOps' 1,000 an
// hour, 80 s. When pages come faster than CheckpointInterval allows (an
// API far above those limits, a simulator), a checkpoint waits for the
// interval, or for as long as the last checkpoint took (see loader.wait):
// its cost is per table, not per page, and a crash then loses those
// seconds' pages, which cost those seconds to fetch again.
const (
	CheckpointPages    = 20
	CheckpointEvery    = 30 * time.Second
	CheckpointInterval = time.Second
)

// CheckpointCommitted is the debug log message of each committed
// checkpoint.
const CheckpointCommitted = "checkpoint committed"

// loader archives, transforms and stages pages, and checkpoints them.
type loader struct {
	w        *load.Warehouse
	runID    string
	raw      string
	clock    budget.Clock
	log      *slog.Logger
	every    int
	interval time.Duration
	// cost is how long the last checkpoint took (see wait).
	cost    time.Duration
	hook    func(string)
	writers map[string]*archive.Writer // by account
	pending int
	last    time.Time
	// progress counts each account's rows loaded (nil: no display).
	progress map[string]*account
}

func (l *loader) load(ctx context.Context, p page) error {
	defer p.rows.release() // stage releases them first, unless an error comes before
	aw := l.writers[p.account]
	if aw == nil {
		var err error
		if aw, err = archive.Create(l.raw, p.src.Name, p.account, l.runID); err != nil {
			return err
		}
		aw.SetHook(l.hook)
		l.writers[p.account] = aw
	}
	seq, err := aw.Append(p.entry)
	if err != nil {
		return err
	}
	if l.hook != nil {
		l.hook(HookArchived)
	}
	e := p.entry
	e.Seq, e.Source, e.Account, e.RunID = seq, p.src.Name, p.account, l.runID
	if x := l.progress[p.account]; x != nil {
		x.loaded(p.rows)
	}
	if err := p.rows.stage(ctx, l.w, e); err != nil {
		return err
	}
	if p.zone != "" {
		l.w.NoteZone(p.account, p.zone)
	}
	if p.cursor != "" {
		key := p.entry.Resource
		if p.cursorKey != "" {
			key = p.cursorKey
		}
		l.w.SetCursor(p.account, key, p.cursor)
	}
	l.w.MarkArchived(l.runID, p.account, aw.Rel(), seq)
	l.pending++
	since := l.clock.Now().Sub(l.last)
	if (l.pending >= l.every && since >= l.wait()) || since >= CheckpointEvery || l.w.PendingRows() >= load.CheckpointRows {
		return l.checkpoint(ctx)
	}
	return nil
}

// wait is the least time between two checkpoints: the interval, or as
// long as the last checkpoint took when that was longer. A checkpoint's
// cost is mostly per table, not per row, and grows with the warehouse (a
// 20-account first export's commits took 300–800 ms each, a 50-account
// one's up to a second), so when pages come faster than the loader
// commits them, it commits them in fewer, larger checkpoints instead of
// spending most of its time committing: at most half of it.
func (l *loader) wait() time.Duration {
	if l.interval <= 0 {
		return 0
	}
	return max(l.interval, l.cost)
}

// checkpoint makes the archived pages durable, then commits what they
// staged: the warehouse never counts a page the archive could lose.
func (l *loader) checkpoint(ctx context.Context) error {
	for _, aw := range l.writers {
		if err := aw.Sync(); err != nil {
			return err
		}
	}
	rows := l.w.PendingRows()
	began := l.clock.Now()
	if err := l.w.Checkpoint(ctx, l.runID, began); err != nil {
		return err
	}
	l.cost = l.clock.Now().Sub(began)
	// Tests wait for this line (a run's first commit) rather than for a
	// time that a slower machine would not keep.
	l.log.Debug(CheckpointCommitted, "pages", l.pending, "rows", rows)
	l.pending, l.last = 0, l.clock.Now()
	return nil
}

// close syncs and closes the archive files (Finish commits the rest).
func (l *loader) close() error {
	var errs []error
	for _, aw := range l.writers {
		errs = append(errs, aw.Close())
	}
	return errors.Join(errs...)
}
