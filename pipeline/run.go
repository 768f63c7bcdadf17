// Package pipeline is the sync engine: it drives every source the same way,
// from the config's accounts to a committed warehouse and published
// Parquet. It owns the run's fan-out (one goroutine per account, each paced
// on its own key), the loader (archive, transform, stage, checkpoint),
// the task loop with its failure streak, the detail-queue drain, the
// run's caps and the summary of what a stopped run leaves, the rebuild
// from the raw archive, and the plan's totals. Each of these is written
// once; what differs between APIs is behind extract.Source.
//
// Dependencies point one way: cmd → pipeline → load → transform → schema,
// and pipeline → extract; no source knows the warehouse.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/model"
)

var (
	// ErrPartial marks a run stopped by a rate budget or its own caps,
	// with what it fetched committed: exit code 3.
	ErrPartial = errors.New("partial run, the next run resumes")
	// ErrRejected marks a run that loaded everything it could but
	// quarantined some records: exit code 4.
	ErrRejected = errors.New("records rejected")
)

// PageBuffer and MaxPageBuffer bound how many fetched pages may wait for
// the loader (PageBufferFor): a page fetched but not yet archived is lost,
// and paid for again, if the process dies.
const (
	PageBuffer    = 2
	MaxPageBuffer = 64
)

// PageBufferFor is how many fetched pages may wait for the loader when the
// accounts go at these paces: what the fastest of them fetches in a second,
// at least PageBuffer and at most MaxPageBuffer. At the sources' documented
// rates (MGR's 30 a minute, RepairOps' hourly quotas) that is PageBuffer: a
// crash costs two pages. An account allowed far more (a limit overridden,
// a fast API) would otherwise wait on every checkpoint: the loader commits
// for a few hundred milliseconds while it fetches a page every few; a
// crash then costs at most a second of its budget. The fastest account,
// not their sum: the pages a run holds must not grow with its accounts.
func PageBufferFor(paces ...extract.Pace) int {
	fastest := 0.0
	for _, p := range paces {
		fastest = max(fastest, p.PerMinute/60)
	}
	return min(MaxPageBuffer, max(PageBuffer, int(fastest)))
}

// PreparingPages is how many accounts may hold a page turned into rows
// that the loader has not taken yet: as many as there are cores to turn
// them. Every other account waits with its page as fetched. Each account
// held one before, blocked on the loader: 70 MB of a 200-account run's
// Go heap, growing with the accounts.
func PreparingPages() int { return max(2, runtime.GOMAXPROCS(0)) }

// HookArchived is the crash point after a page is archived and before it
// is staged (see load.Hook* for the others).
const HookArchived = "page:archived"

// HookTransforming is the crash point where a fetched page is about to be
// transformed (in the account's goroutine, while the loader works).
const HookTransforming = "page:transforming"

// Limits are a run's own budget per account; zero values mean none.
type Limits struct {
	MaxRequests int64     // --max-requests
	Deadline    time.Time // --max-duration from the start
}

// Options are how a run or rebuild runs.
type Options struct {
	Limits Limits
	Clock  budget.Clock // default the real clock
	Log    *slog.Logger // default discard
	// Hook is called at the crash points (HookArchived, load.Hook*): crash
	// tests kill the process there. Nil in production.
	Hook func(point string)
	// CheckpointPages overrides the pages per checkpoint (0: the
	// default); CheckpointInterval the least time between two (negative:
	// none).
	CheckpointPages    int
	CheckpointInterval time.Duration
	// Progress, when set, is kept up to date for a display (nil: none).
	Progress *Progress
	// Lake publishes the committed warehouse to the lake after the
	// Parquet tree (nil: no lake), and says what it did in a line. The
	// command line wires package lake here, which keeps iceberg-go out of
	// this package.
	Lake func(ctx context.Context, w *load.Warehouse, runID string) (string, error)
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = budget.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.CheckpointPages <= 0 {
		o.CheckpointPages = CheckpointPages
	}
	switch {
	case o.CheckpointInterval == 0:
		o.CheckpointInterval = CheckpointInterval
	case o.CheckpointInterval < 0:
		o.CheckpointInterval = 0
	}
}

// Report is what a finished run or rebuild did.
type Report struct {
	Summary load.Summary
	Took    time.Duration
	// Published are the Parquet partitions written, under ParquetRoot.
	Published   []load.Published
	ParquetRoot string
	// Unpublished: the Parquet publish stopped (a full or read-only disk);
	// the rows are committed and the next run or rebuild publishes the rest.
	Unpublished bool
	// Lake is what the lake publish did, in a line ("" without a lake).
	Lake string
	// Rebuild only: what was replayed from the raw archive.
	Replay *ReplayStats
	// Backlog is the detail queue after the run, per account and resource
	// (what the next run fetches first).
	Backlog []load.DueCount
}

// page is one response on its way to the warehouse: the archive entry (the
// body as received, with its request), what it decodes to, and what
// committing it means.
type page struct {
	src     *extract.Source
	account string
	entry   archive.Entry
	rows    *prepared
	cursor  string // the cursor's value once this page is committed
	// cursorKey names the cursor when it is not the resource's own.
	cursorKey string
	// zone is the account's time zone as its timestamps carry it, on the
	// first page that shows it when none is configured.
	zone string
}

// newRunID names a run after its start, to the millisecond, so that run ids
// (and the raw archive's file names) sort in the order the runs happened:
// the warehouse lock keeps two runs from starting together.
func newRunID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return now.UTC().Format(load.RunIDLayout) + "-" + hex.EncodeToString(b)
}

// Run extracts every account concurrently (each paced on its own key),
// archives, transforms and stages pages as they arrive, checkpoints them
// with their cursors, then closes the run and publishes Parquet. The
// returned error carries the outcome: ErrPartial, ErrRejected, a
// config.UsageError, or a failure.
func Run(ctx context.Context, cfg *config.Config, opt Options) (Report, error) {
	opt.defaults()
	clock, log := opt.Clock, opt.Log
	accts := make([]*account, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		src, ok := sources.Lookup(a.Source)
		if !ok {
			return Report{}, config.Usagef("account %q: no source %q", a.Name, a.Source)
		}
		key, err := cfg.APIKey(a)
		if err != nil {
			return Report{}, err
		}
		accts[i] = &account{a: a, src: src, key: key}
	}
	// The ledgers before the run begins: a bad state directory fails the
	// run before it is recorded.
	state, err := cfg.StateDirectory()
	if err != nil {
		return Report{}, err
	}
	for _, x := range accts {
		if x.ledger, err = openLedger(state, x.src, x.a, x.key); err != nil {
			return Report{}, fmt.Errorf("account %s: %w", x.a.Name, err)
		}
	}
	started := clock.Now()
	w, done, err := OpenForWrite(ctx, cfg, "repairshop-export run", started, opt.Hook)
	if err != nil {
		return Report{}, err
	}
	defer done()
	runID := newRunID(started)
	if err := w.BeginRun(ctx, runID, load.KindExport, started); err != nil {
		return Report{}, err
	}
	log.Info("run started", "run", runID, "accounts", len(cfg.Accounts), "warehouse", cfg.Warehouse)
	// A run that fails before its accounts start still ends in meta.runs
	// (failed, or interrupted by a signal), never left "running": the
	// next run would take that for a process that died.
	abandon := func(err error) (Report, error) {
		status := load.StatusFailed
		if ctx.Err() != nil {
			status = load.StatusInterrupted
		}
		if _, ferr := w.Finish(context.WithoutCancel(ctx), runID, clock.Now(), status, nil, err.Error()); ferr != nil {
			return Report{}, errors.Join(err, fmt.Errorf("record the run's end: %w", ferr))
		}
		return Report{}, err
	}

	paces := make([]extract.Pace, len(accts))
	for i, x := range accts {
		paces[i] = x.src.Pace(x.a)
	}
	pages := make(chan page, PageBufferFor(paces...))
	preparing := make(chan struct{}, PreparingPages())
	for _, x := range accts {
		x.runID, x.clock, x.pages, x.preparing, x.raw, x.hook = runID, clock, pages, preparing, cfg.RawDir(), opt.Hook
		x.log = log.With("account", x.a.Name, "source", x.a.Source)
		if opt.Progress != nil {
			x.prog, x.progress = opt.Progress, opt.Progress.add(x.a.Name, x.a.Source)
			x.clock = waitClock{Clock: clock, p: x.prog, a: x.progress}
		}
		if err := x.prepare(ctx, w, opt.Limits); err != nil {
			return abandon(fmt.Errorf("account %s: %w", x.a.Name, err))
		}
	}
	if opt.Progress != nil {
		if err := planProgress(ctx, cfg, w, accts, state, opt); err != nil {
			return abandon(err)
		}
	}
	results := make([]load.AccountResult, len(accts))
	var wg sync.WaitGroup
	// Extraction stops if loading fails: nothing fetched would be kept.
	xctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, x := range accts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = x.run(xctx)
		}()
	}
	go func() { wg.Wait(); close(pages) }()

	// Database work finishes even when ctx is cancelled (SIGTERM): what was
	// fetched is committed and the run row closed.
	dbctx := context.WithoutCancel(ctx)
	ld := &loader{w: w, runID: runID, progress: progressOf(accts), raw: cfg.RawDir(), clock: clock, log: log, every: opt.CheckpointPages, interval: opt.CheckpointInterval, hook: opt.Hook, writers: map[string]*archive.Writer{}, last: clock.Now()}
	var loadErr error
	for p := range pages {
		if loadErr != nil {
			p.rows.release()
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
	if ctx.Err() != nil && loadErr == nil {
		// A signal (systemd's stop, cron's timeout, ^C): what is complete
		// is committed below; the run is interrupted, a partial one.
		var left []string
		for _, r := range results {
			if r.Left != "" {
				left = append(left, r.Account+": "+r.Left)
			}
		}
		msg := "what was fetched is committed"
		if len(left) > 0 {
			msg += "; " + strings.Join(left, "; ")
		}
		why := "interrupted"
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			why = c.Error() // "interrupted by SIGTERM"
		}
		status, runErr = load.StatusInterrupted, fmt.Errorf("%s; %w: %s", why, ErrPartial, msg)
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	rep := Report{ParquetRoot: cfg.Parquet}
	rep.Summary, err = w.Finish(dbctx, runID, clock.Now(), status, results, errText)
	rep.Took = clock.Now().Sub(started)
	if err != nil {
		return rep, storageError(err, runErr)
	}
	if rep.Backlog, err = w.DetailBacklog(dbctx); err != nil {
		return rep, storageError(err, runErr)
	}
	if rep.Published, err = publish(dbctx, w, cfg, runID, clock); err != nil {
		rep.Unpublished = true
		return rep, storageError(err, runErr)
	}
	if rep.Lake, err = publishLake(dbctx, w, runID, opt.Lake); err != nil {
		return rep, storageError(err, runErr)
	}
	if n := rep.Summary.Totals().Rejected; n > 0 && runErr == nil {
		runErr = fmt.Errorf("%w: %d record(s) quarantined in meta.rejects; everything else is loaded", ErrRejected, n)
	}
	return rep, runErr
}

// storageError is a failure to finish the run in the warehouse or to
// write its file or the Parquet tree: a failure (exit 1) whatever the run
// was, so that a partial run's exit 3 does not hide a full disk.
func storageError(err, runErr error) error {
	if runErr == nil {
		return err
	}
	return fmt.Errorf("%w (the run itself: %v)", err, runErr)
}

// openLedger opens the ledger an account's key paces through.
func openLedger(state string, src *extract.Source, a extract.Account, key string) (*budget.Ledger, error) {
	id := budget.KeyID(src.Name, key)
	if src.LedgerID != nil {
		id = src.LedgerID(a, key)
	}
	return budget.OpenLedger(filepath.Join(state, "ledger"), id)
}

// OpenForWrite takes the warehouse lock (failing at once if another
// process holds it), opens the warehouse and creates the declared tables.
// done closes the warehouse and releases the lock.
func OpenForWrite(ctx context.Context, cfg *config.Config, command string, now time.Time, hook func(string)) (w *load.Warehouse, done func(), err error) {
	lock, err := load.AcquireLock(cfg.Warehouse, command, now)
	if err != nil {
		return nil, nil, err
	}
	if w, err = load.Open(ctx, cfg.Warehouse); err != nil {
		lock.Release()
		return nil, nil, err
	}
	w.SetHook(hook)
	err = w.Ensure(ctx, sources.Tables()...)
	if err == nil {
		err = w.SetAccounts(ctx, accountInfos(cfg), statusRules(cfg))
	}
	if err == nil {
		err = w.EnsureViews(ctx, ConformedViews())
	}
	if err != nil {
		w.Close()
		lock.Release()
		return nil, nil, err
	}
	return w, func() { w.Close(); lock.Release() }, nil
}

// accountInfos are the configured accounts as the warehouse records them.
func accountInfos(cfg *config.Config) []load.AccountInfo {
	out := make([]load.AccountInfo, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		out[i] = load.AccountInfo{Name: a.Name, Source: a.Source, Timezone: a.Timezone, Currency: a.Currency}
	}
	return out
}

// statusRules are the default status groups and each account's own.
func statusRules(cfg *config.Config) []load.StatusRule {
	own := map[string]map[string][]string{}
	for _, a := range cfg.Accounts {
		if len(a.StatusGroups) > 0 {
			own[a.Name] = a.StatusGroups
		}
	}
	var out []load.StatusRule
	for _, r := range model.StatusRules(own) {
		out = append(out, load.StatusRule(r))
	}
	return out
}

// ConformedViews are the model's views in the main schema, as the
// warehouse creates them, with every registered source's fragments.
func ConformedViews() []load.View {
	fragments, err := sources.Fragments()
	if err != nil {
		panic(err) // embedded files: TestEverySourceIsComplete fails first
	}
	var out []load.View
	for _, v := range model.Views(fragments) {
		out = append(out, load.View{Schema: "main", Name: v.Name, SQL: v.SQL, Doc: v.Doc})
	}
	return out
}

// OverParts is query with the conformed model's parts it reads
// (part_tickets, …) made of every registered source's fragments: for a
// query that needs a part's rows and not a view's work on them (see
// model.Compose).
func OverParts(query string) (string, error) {
	fragments, err := sources.Fragments()
	if err != nil {
		return "", err
	}
	return model.Compose(query, fragments)
}

// publish writes the warehouse file, then the queued Parquet partitions,
// and marks the run published. The file is written first, not after: the
// CHECKPOINT's own memory would add to what the publish's queries leave in
// DuckDB's buffer pool (a 100k-ticket run peaked 55-60 MB lower). A
// failure of either leaves the partitions queued for the next run.
func publish(ctx context.Context, w *load.Warehouse, cfg *config.Config, runID string, clock budget.Clock) ([]load.Published, error) {
	if err := w.Flush(ctx); err != nil {
		return nil, err
	}
	if cfg.Parquet == "" {
		return nil, nil
	}
	pub, err := w.Publish(ctx, cfg.Parquet)
	if err != nil {
		return pub, fmt.Errorf("rows are committed, Parquet is not up to date (the next run or rebuild retries): %w", err)
	}
	// The conformed model, rewritten whole when a table changed: its views
	// mix tables.
	_, statErr := os.Stat(filepath.Join(cfg.Parquet, "main"))
	views, err := w.PublishViews(ctx, cfg.Parquet, ConformedViews(), runID, statErr != nil)
	pub = append(pub, views...)
	if err != nil {
		return pub, fmt.Errorf("rows are committed, the conformed model's Parquet is not up to date (the next run or rebuild retries): %w", err)
	}
	return pub, w.MarkPublished(ctx, runID, clock.Now())
}

// publishLake publishes to the lake, after the Parquet tree.
func publishLake(ctx context.Context, w *load.Warehouse, runID string, lake func(context.Context, *load.Warehouse, string) (string, error)) (string, error) {
	if lake == nil {
		return "", nil
	}
	line, err := lake(ctx, w, runID)
	if err != nil {
		return line, fmt.Errorf("%w (rows and Parquet are committed; the next run publishes the lake)", err)
	}
	return line, nil
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
		return load.StatusPartial, fmt.Errorf("%w: %w", ErrPartial, errors.Join(partial...))
	}
	return load.StatusOK, nil
}
