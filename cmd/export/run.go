package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

var (
	// errPartial marks a run stopped by a rate budget: exit code 3.
	errPartial = errors.New("partial run: stopped by the rate budget; the next run resumes")
	// errRejected marks a run that loaded everything it could but
	// quarantined some records: exit code 4.
	errRejected = errors.New("records rejected")
)

// mgrResources maps each MGR list resource to its table.
var mgrResources = []struct {
	res   mgr.Resource
	table *schema.Table
}{
	{mgr.Tickets, schema.MGRTickets},
}

// Checkpoints: staged pages are committed (rows, cursors, archive marks in
// one transaction) every checkpointPages pages or checkpointEvery, whichever
// comes first, so a crash loses at most that much fetching. At MGR's 30
// requests a minute, 20 pages are 40 s of budget.
var (
	checkpointPages = 20
	checkpointEvery = 30 * time.Second
)

// hookArchived is the crash point after a page is archived and before it
// is staged.
const hookArchived = "page:archived"

type page struct {
	account  string
	source   string
	table    *schema.Table
	resource string
	kind     string // archive.KindList or KindDetail
	params   map[string][]string
	body     []byte // as received, for the archive
	dropped  []int
	records  []byte // what the run uses
	fetched  time.Time
	cursor   string // the resource's cursor once this page is committed
}

// listCursor is the committed position of an account's listing of a
// resource. MGR lists have no "changed since" filter, so each run re-lists;
// a listing cut short (crash, budget) resumes where it stopped.
type listCursor struct {
	Pass  string `json:"pass"` // "in_progress" | "complete"
	Next  int    `json:"next_offset,omitempty"`
	RunID string `json:"run_id"`
}

func (c listCursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// resumeOffset is where a listing starts: one page before the committed
// position of an unfinished pass (records may have shifted by a few), or 0.
func resumeOffset(value string) int {
	var c listCursor
	if value == "" || json.Unmarshal([]byte(value), &c) != nil || c.Pass != "in_progress" {
		return 0
	}
	return max(c.Next-mgr.PageSize, 0)
}

// newRunID names a run after its start, to the millisecond, so that run ids
// (and the raw archive's file names) sort in the order the runs happened:
// the warehouse lock keeps two runs from starting together.
func newRunID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return now.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b)
}

// hooks lets a crash test stop the process at named points (see
// load.Hook*); nil in production.
var hooks func(point string)

// runExport extracts every account concurrently (each paced on its own
// key), archives, transforms and stages pages as they arrive, checkpoints
// them with their cursors, then closes the run and publishes Parquet. The
// returned error carries the exit code.
func runExport(ctx context.Context, cfg *Config, clock budget.Clock, log *slog.Logger, out io.Writer) (load.Summary, error) {
	keys := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		k, err := a.apiKey()
		if err != nil {
			return load.Summary{}, err
		}
		keys[i] = k
	}
	// The ledgers before the run begins: a bad state directory fails the
	// run before it is recorded.
	state, err := cfg.stateDir()
	if err != nil {
		return load.Summary{}, err
	}
	ledgers := make([]*budget.Ledger, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		if ledgers[i], err = budget.OpenLedger(filepath.Join(state, "ledger"), budget.KeyID(a.Source, keys[i])); err != nil {
			return load.Summary{}, fmt.Errorf("account %s: %w", a.Name, err)
		}
	}
	started := clock.Now()
	w, done, err := openForWrite(ctx, cfg, "export run", started)
	if err != nil {
		return load.Summary{}, err
	}
	defer done()
	runID := newRunID(started)
	if err := w.BeginRun(ctx, runID, load.KindExport, started); err != nil {
		return load.Summary{}, err
	}
	log.Info("run started", "run", runID, "accounts", len(cfg.Accounts), "warehouse", cfg.Warehouse)

	starts := map[[2]string]int{}
	for _, a := range cfg.Accounts {
		for _, r := range mgrResources {
			v, _, err := w.Cursor(ctx, a.Name, r.res.Name)
			if err != nil {
				return load.Summary{}, err
			}
			if off := resumeOffset(v); off > 0 {
				starts[[2]string{a.Name, r.res.Name}] = off
				log.Info("resuming an unfinished listing", "account", a.Name, "resource", r.res.Name, "offset", off)
			}
		}
	}

	pages := make(chan page, 8)
	results := make([]load.AccountResult, len(cfg.Accounts))
	var wg sync.WaitGroup
	// Extraction stops if loading fails: nothing fetched would be kept.
	xctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, a := range cfg.Accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = extractAccount(xctx, a, keys[i], ledgers[i], runID, starts, clock, log, pages)
		}()
	}
	go func() { wg.Wait(); close(pages) }()

	// Database work finishes even when ctx is cancelled (SIGTERM): what was
	// fetched is committed and the run row closed.
	dbctx := context.WithoutCancel(ctx)
	ld := &loader{w: w, runID: runID, raw: cfg.rawDir(), clock: clock, writers: map[string]*archive.Writer{}, last: clock.Now()}
	var loadErr error
	for p := range pages {
		if loadErr != nil {
			continue // drain so extractors can finish
		}
		if err := ld.load(dbctx, p); err != nil {
			loadErr = fmt.Errorf("account %s: %w", p.account, err)
			cancel()
		}
	}
	if err := ld.close(); err != nil && loadErr == nil {
		loadErr = err
	}

	status, runErr := runStatus(results, loadErr)
	if ctx.Err() != nil && runErr == nil {
		status, runErr = load.StatusFailed, fmt.Errorf("interrupted: %w; what was fetched is committed, the next run resumes", context.Cause(ctx))
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	sum, err := w.Finish(dbctx, runID, clock.Now(), status, results, errText)
	if err != nil {
		return sum, errors.Join(err, runErr)
	}
	printSummary(out, sum, clock.Now().Sub(started))
	if err := publish(dbctx, w, cfg, runID, clock, out); err != nil {
		return sum, errors.Join(err, runErr)
	}
	if n := sum.Totals().Rejected; n > 0 {
		fmt.Fprintf(out, "%d record(s) rejected: see `export status` or meta.rejects\n", n)
		if runErr == nil {
			runErr = fmt.Errorf("%w: %d record(s) quarantined in meta.rejects; everything else is loaded", errRejected, n)
		}
	}
	return sum, runErr
}

// openForWrite takes the warehouse lock (failing at once if another
// process holds it), opens the warehouse and creates the declared tables.
// done closes the warehouse and releases the lock.
func openForWrite(ctx context.Context, cfg *Config, command string, now time.Time) (w *load.Warehouse, done func(), err error) {
	lock, err := load.AcquireLock(cfg.Warehouse, command, now)
	if err != nil {
		return nil, nil, err
	}
	if w, err = load.Open(ctx, cfg.Warehouse); err != nil {
		lock.Release()
		return nil, nil, err
	}
	w.SetHook(hooks)
	if err := w.Ensure(ctx, schema.All...); err != nil {
		w.Close()
		lock.Release()
		return nil, nil, err
	}
	return w, func() { w.Close(); lock.Release() }, nil
}

// publish writes the queued Parquet partitions and marks the run published.
func publish(ctx context.Context, w *load.Warehouse, cfg *Config, runID string, clock budget.Clock, out io.Writer) error {
	if cfg.Parquet == "" {
		return nil
	}
	pub, err := w.Publish(ctx, cfg.Parquet)
	if err != nil {
		return fmt.Errorf("rows are committed, Parquet is not up to date (the next run or rebuild retries): %w", err)
	}
	fmt.Fprintf(out, "parquet: %d partition(s) published under %s\n", len(pub), cfg.Parquet)
	return w.MarkPublished(ctx, runID, clock.Now())
}

// loader archives, transforms and stages pages, and checkpoints them.
type loader struct {
	w       *load.Warehouse
	runID   string
	raw     string
	clock   budget.Clock
	writers map[string]*archive.Writer // by account
	pending int
	last    time.Time
}

func (l *loader) load(ctx context.Context, p page) error {
	aw := l.writers[p.account]
	if aw == nil {
		var err error
		if aw, err = archive.Create(l.raw, p.source, p.account, l.runID); err != nil {
			return err
		}
		l.writers[p.account] = aw
	}
	seq, err := aw.Append(archive.Entry{Resource: p.resource, Kind: p.kind, Params: p.params, FetchedAt: p.fetched, Dropped: p.dropped, Body: p.body})
	if err != nil {
		return err
	}
	if hooks != nil {
		hooks(hookArchived)
	}
	b, err := transform.Page(p.table, p.records, transform.Meta{Account: p.account, RunID: l.runID, ExtractedAt: p.fetched}, nil)
	if err != nil {
		return err
	}
	err = l.w.Stage(ctx, p.account, b)
	b.Release()
	if err != nil {
		return err
	}
	if p.cursor != "" {
		l.w.SetCursor(p.account, p.resource, p.cursor)
	}
	l.w.MarkArchived(l.runID, p.account, aw.Rel(), seq)
	if l.pending++; l.pending >= checkpointPages || l.clock.Now().Sub(l.last) >= checkpointEvery {
		return l.checkpoint(ctx)
	}
	return nil
}

// checkpoint makes the archived pages durable, then commits what they
// staged: the warehouse never counts a page the archive could lose.
func (l *loader) checkpoint(ctx context.Context) error {
	for _, aw := range l.writers {
		if err := aw.Sync(); err != nil {
			return err
		}
	}
	if err := l.w.Checkpoint(ctx, l.runID, l.clock.Now()); err != nil {
		return err
	}
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

func extractAccount(ctx context.Context, a Account, key string, ledger *budget.Ledger, runID string, starts map[[2]string]int, clock budget.Clock, log *slog.Logger, pages chan<- page) (res load.AccountResult) {
	res = load.AccountResult{Account: a.Name, Source: a.Source, Status: load.StatusOK}
	opts := []mgr.Option{mgr.WithClock(clock), mgr.WithLogger(log.With("account", a.Name)), mgr.WithLedger(ledger)}
	if a.BaseURL != "" {
		opts = append(opts, mgr.WithBaseURL(a.BaseURL))
	}
	if a.RequestsPerMinute > 0 {
		opts = append(opts, mgr.WithRateLimit(a.RequestsPerMinute, time.Minute, 0))
	}
	c, err := mgr.NewClient(key, opts...)
	if err != nil {
		res.Status, res.Error = load.StatusFailed, err.Error()
		return res
	}
	defer func() { res.Requests = c.Requests() }()
	if until := c.CoolingUntil(); until.After(clock.Now()) {
		log.Warn("waiting out a rate-limit silence recorded on this key (by this or another process)", "account", a.Name, "until", until.Format(time.RFC3339), "ledger", ledger.Path())
	}
	for _, r := range mgrResources {
		n := 0
		err := c.ListFrom(ctx, r.res, starts[[2]string{a.Name, r.res.Name}], func(p mgr.Page) error {
			n += p.Count
			cur := listCursor{Pass: "in_progress", Next: p.Next, RunID: runID}
			if p.Last {
				cur = listCursor{Pass: "complete", RunID: runID}
			}
			select {
			case pages <- page{account: a.Name, source: a.Source, table: r.table, resource: r.res.Name, kind: archive.KindList,
				params: p.Params, body: p.Body, dropped: p.Dropped, records: p.Records, fetched: p.FetchedAt, cursor: cur.String()}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			res.Status, res.Error = load.StatusFailed, fmt.Sprintf("account %s: %v", a.Name, err)
			if errors.Is(err, mgr.ErrRateBudget) {
				res.Status = load.StatusPartial
			}
			log.Error("extract failed", "account", a.Name, "resource", r.res.Name, "error", err)
			return res
		}
		log.Info("extracted", "account", a.Name, "resource", r.res.Name, "records", n, "requests", c.Requests())
	}
	return res
}

// runStatus folds the accounts' outcomes into the run's status and error.
func runStatus(results []load.AccountResult, loadErr error) (string, error) {
	if loadErr != nil {
		return load.StatusFailed, loadErr
	}
	var failed, partial []error
	for _, r := range results {
		switch r.Status {
		case load.StatusFailed:
			failed = append(failed, errors.New(r.Error))
		case load.StatusPartial:
			partial = append(partial, errors.New(r.Error))
		}
	}
	switch {
	case len(failed) > 0:
		return load.StatusFailed, errors.Join(append(failed, partial...)...)
	case len(partial) > 0:
		return load.StatusPartial, fmt.Errorf("%w: %w", errPartial, errors.Join(partial...))
	}
	return load.StatusOK, nil
}

func printSummary(out io.Writer, s load.Summary, took time.Duration) {
	fmt.Fprintf(out, "run %s: %s in %s\n", s.RunID, s.Status, took.Round(time.Millisecond))
	fmt.Fprintf(out, "%-10s %-30s %9s %9s %9s %9s %9s %9s\n", "account", "table", "received", "inserted", "updated", "unchanged", "deleted", "rejected")
	for _, t := range s.Tables {
		fmt.Fprintf(out, "%-10s %-30s %9d %9d %9d %9d %9d %9d\n", t.Account, t.Table, t.Received, t.Inserted, t.Updated, t.Unchanged, t.Deleted, t.Rejected)
	}
	for _, a := range s.Accounts {
		fmt.Fprintf(out, "account %s (%s): %s, %d request(s)\n", a.Account, a.Source, a.Status, a.Requests)
	}
}
