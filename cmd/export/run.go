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
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
)

var (
	// errPartial marks a run stopped by a rate budget: exit code 3.
	errPartial = errors.New("partial run: stopped by the rate budget; the next run resumes")
	// errRejected marks a run that loaded everything it could but
	// quarantined some records: exit code 4.
	errRejected = errors.New("records rejected")
)

// Checkpoints: staged pages are committed (rows, cursors, archive marks in
// one transaction) every checkpointPages pages or checkpointEvery, whichever
// comes first, so a crash loses at most that much fetching. At MGR's 30
// requests a minute, 20 pages are 40 s of budget.
var (
	checkpointPages = 20
	checkpointEvery = 30 * time.Second
)

// pageBuffer is how many fetched pages may wait for the loader.
const pageBuffer = 2

// hookArchived is the crash point after a page is archived and before it
// is staged.
const hookArchived = "page:archived"

// page is one response on its way to the warehouse: the archive entry (the
// body as received, with its request) and what committing it means.
type page struct {
	account string
	source  string
	entry   archive.Entry
	cursor  string // the resource's cursor once this page is committed
	// cursorKey names the cursor when it is not the resource's own (one
	// per shop: "kpis/<shop>").
	cursorKey string
	// gone, instead of a response, notes a detail the API no longer has
	// (404): it leaves the queue without a row.
	gone *load.Due
}

// runLimits is the run's own budget per account (--max-requests,
// --max-duration); zero values mean none.
type runLimits struct {
	maxRequests int64
	deadline    time.Time
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
func runExport(ctx context.Context, cfg *Config, lim runLimits, clock budget.Clock, log *slog.Logger, out io.Writer) (load.Summary, error) {
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

	states := make([]accountState, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		if states[i], err = loadAccountState(ctx, w, a, log); err != nil {
			return load.Summary{}, err
		}
	}

	// A small buffer: a page fetched but not yet archived is lost (and
	// paid for again) if the process dies.
	pages := make(chan page, pageBuffer)
	results := make([]load.AccountResult, len(cfg.Accounts))
	var wg sync.WaitGroup
	// Extraction stops if loading fails: nothing fetched would be kept.
	xctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, a := range cfg.Accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = extractAccount(xctx, a, keys[i], ledgers[i], runID, states[i], lim, clock, log, pages)
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
	if p.gone != nil {
		l.w.NoteFetched(p.account, p.entry.Resource, p.gone.ID, p.gone.Fingerprint, load.DetailNotFound, p.entry.FetchedAt)
		return nil
	}
	aw := l.writers[p.account]
	if aw == nil {
		var err error
		if aw, err = archive.Create(l.raw, p.source, p.account, l.runID); err != nil {
			return err
		}
		l.writers[p.account] = aw
	}
	seq, err := aw.Append(p.entry)
	if err != nil {
		return err
	}
	if hooks != nil {
		hooks(hookArchived)
	}
	e := p.entry
	e.Seq, e.Source, e.Account, e.RunID = seq, p.source, p.account, l.runID
	if _, err := stageEntry(ctx, l.w, e, nil); err != nil {
		return err
	}
	if p.cursor != "" {
		key := p.entry.Resource
		if p.cursorKey != "" {
			key = p.cursorKey
		}
		l.w.SetCursor(p.account, key, p.cursor)
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

// accountState is what an account's extraction starts from: where
// unfinished listings resume, and the detail queue as committed.
type accountState struct {
	starts     map[string]int               // resource → offset
	unfinished map[string]bool              // resource → its last listing pass did not finish
	fetched    map[string]map[string]string // resource → id → fingerprint fetched
	due        map[string][]load.Due        // resource → due from earlier runs
	// RepairOps: the committed cursors by name, and the shops the stored
	// tickets name.
	cursors map[string]string
	shops   []string
}

func loadAccountState(ctx context.Context, w *load.Warehouse, a Account, log *slog.Logger) (accountState, error) {
	st := accountState{starts: map[string]int{}, unfinished: map[string]bool{}, fetched: map[string]map[string]string{}, due: map[string][]load.Due{}}
	if a.Source == "repairops" {
		return loadRepairOpsState(ctx, w, a, st)
	}
	for _, r := range accountResources(a) {
		v, _, err := w.Cursor(ctx, a.Name, r.res.Name)
		if err != nil {
			return st, err
		}
		var cur listCursor
		if json.Unmarshal([]byte(v), &cur) == nil && cur.Pass == "in_progress" {
			st.unfinished[r.res.Name] = true
		}
		if off := resumeOffset(v); off > 0 {
			st.starts[r.res.Name] = off
			log.Info("resuming an unfinished listing", "account", a.Name, "resource", r.res.Name, "offset", off)
		}
		if r.res.Detail {
			if st.fetched[r.res.Name], st.due[r.res.Name], err = w.DetailState(ctx, a.Name, r.res.Name); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// extractAccount spends an account's budget by priority: every list
// (reference lists first), noting which records need their detail; then
// the details, changed and recent ones first, newest first. It stops
// cleanly at the first rate signal or when the run's own budget is spent:
// what was fetched is committed and the next run carries on.
func extractAccount(ctx context.Context, a Account, key string, ledger *budget.Ledger, runID string, st accountState, lim runLimits, clock budget.Clock, log *slog.Logger, pages chan<- page) (res load.AccountResult) {
	if a.Source == "repairops" {
		return extractRepairOps(ctx, a, key, ledger, runID, st, lim, clock, log, pages)
	}
	res = load.AccountResult{Account: a.Name, Source: a.Source, Status: load.StatusOK}
	log = log.With("account", a.Name)
	c, err := mgrClient(a, key, ledger, clock, log, mgr.WithRunBudget(lim.maxRequests, lim.deadline))
	if err != nil {
		res.Status, res.Error = load.StatusFailed, err.Error()
		return res
	}
	defer func() { res.Requests = c.Requests() }()
	if until := c.CoolingUntil(); until.After(clock.Now()) {
		log.Warn("waiting out a rate-limit silence recorded on this key (by this or another process)", "until", until.Format(time.RFC3339), "ledger", ledger.Path())
	}
	send := func(p page) error {
		p.account, p.source = a.Name, a.Source
		select {
		case pages <- p:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	resources := listOrder(accountResources(a), st)
	left := mgrLeftover(a)
	var fails failures
	stop := func(what string, err error) load.AccountResult {
		res.Status, res.Error = load.StatusFailed, fmt.Sprintf("account %s: %s: %v", a.Name, what, err)
		if errors.Is(err, mgr.ErrRunBudget) || errors.Is(err, mgr.ErrRateBudget) {
			res.Status = load.StatusPartial
			res.Error += "; " + left.String()
		}
		log.Error("extract stopped", "while", what, "error", err)
		fails.settle(&res)
		return res
	}
	// fatal: the key, its rate or the run's budget — nothing else can go on.
	// MGR's rate-limit error is undocumented in status and wording, so any
	// refusal but a 404 may be one unrecognised: it stops the account
	// rather than risk a second strike towards the block.
	fatal := func(err error) bool {
		var ae *mgr.APIError
		refused := errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && !mgr.IsNotFound(err)
		return refused || errors.Is(err, mgr.ErrAuth) || errors.Is(err, mgr.ErrRateBudget) || errors.Is(err, mgr.ErrBlocked) ||
			errors.Is(err, mgr.ErrRunBudget) || ctx.Err() != nil
	}

	// Lists. For resources with a detail, every listed record whose
	// fingerprint differs from the one its detail was fetched for is due.
	dueNow := map[string]map[string]load.Due{}
	for _, r := range resources {
		if r.res.Detail {
			dueNow[r.res.Name] = map[string]load.Due{}
		}
	}
	noteDue := func(r mgrRes, p mgr.Page) {
		if !r.res.Detail {
			return
		}
		for _, l := range mgr.Listing(r.res, p.Records) {
			had, fetched := st.fetched[r.res.Name][l.ID]
			if had != l.Fingerprint {
				dueNow[r.res.Name][l.ID] = load.Due{ID: l.ID, Fingerprint: l.Fingerprint, Created: l.Created, Changed: fetched}
			}
		}
	}
	// A long pass still under way (a backfill bigger than a night's budget)
	// would keep the newest records waiting until it reaches them: list
	// those first, with the createdDateFrom filter, for a page or two.
	for _, r := range resources {
		if !r.res.Dated || !st.unfinished[r.res.Name] {
			continue
		}
		recent := r.res
		recent.Params = url.Values{"createdDateFrom": {clock.Now().Add(-recentListing).Format(mgr.DateFormat)}}
		for k, v := range r.res.Params {
			recent.Params[k] = v
		}
		err := c.List(ctx, recent, func(p mgr.Page) error {
			noteDue(r, p)
			return send(page{entry: archive.Entry{Resource: r.res.Name, Kind: archive.KindList,
				Params: p.Params, FetchedAt: p.FetchedAt, Dropped: p.Dropped, Body: p.Body}})
		})
		if err != nil && (fatal(err) || fails.add(log, "listing recent "+r.res.Name, err)) {
			left.lists(resources)
			left.details(resources, st, dueNow)
			return stop("listing recent "+r.res.Name, err)
		}
		if err == nil {
			fails.ok()
		}
	}
	for i, r := range resources {
		n := 0
		err := c.ListFrom(ctx, r.res, st.starts[r.res.Name], func(p mgr.Page) error {
			n += p.Count
			cur := listCursor{Pass: "in_progress", Next: p.Next, RunID: runID}
			if p.Last {
				cur = listCursor{Pass: "complete", RunID: runID}
			}
			left.listAt(r.res.Name, p.Next)
			noteDue(r, p)
			return send(page{cursor: cur.String(), entry: archive.Entry{Resource: r.res.Name, Kind: archive.KindList,
				Params: p.Params, FetchedAt: p.FetchedAt, Dropped: p.Dropped, Body: p.Body}})
		})
		if err != nil && (fatal(err) || fails.add(log, "listing "+r.res.Name, err)) {
			left.lists(resources[i:])
			left.details(resources, st, dueNow)
			return stop("listing "+r.res.Name, err)
		}
		if err != nil {
			continue
		}
		fails.ok()
		left.listDone(r.res.Name)
		log.Info("extracted", "resource", r.res.Name, "records", n, "requests", c.Requests())
	}

	// Details, by priority across resources: changed and recent documents
	// first, then the backfill, newest first.
	type item struct {
		r mgrRes
		d load.Due
	}
	var queue []item
	for _, r := range resources {
		if !r.res.Detail {
			continue
		}
		for _, d := range mergeDue(st.due[r.res.Name], dueNow[r.res.Name], clock.Now()) {
			queue = append(queue, item{r, d})
		}
	}
	prioritiseBy(queue, func(it item) load.Due { return it.d }, clock.Now())
	if len(queue) > 0 {
		log.Info("fetching details", "due", len(queue))
	}
	for j, it := range queue {
		r, d := it.r, it.d
		p, err := c.Get(ctx, r.res.Name, d.ID)
		if mgr.IsNotFound(err) {
			log.Warn("listed record has no detail (deleted since?); it leaves the queue", "resource", r.res.Name, "id", d.ID)
			err = send(page{entry: archive.Entry{Resource: r.res.Name, FetchedAt: clock.Now()}, gone: &d})
		} else if err == nil {
			err = send(page{entry: archive.Entry{Resource: r.res.Name, Kind: archive.KindDetail, FetchedAt: p.FetchedAt, Fingerprint: d.Fingerprint, Body: p.Body}})
		}
		what := fmt.Sprintf("details of %s %s", r.res.Name, d.ID)
		if err != nil && (fatal(err) || fails.add(log, what, err)) {
			left.due = map[string]int{}
			for _, rest := range queue[j:] {
				left.due[rest.r.res.Name]++
			}
			return stop(what, err)
		}
		if err == nil {
			fails.ok()
		}
	}
	if len(queue) > 0 {
		log.Info("details fetched", "count", len(queue), "requests", c.Requests())
	}
	fails.settle(&res)
	return res
}

// recentListing is how far back the recent-records listing of a resource
// with an unfinished pass reaches (a day more than a week: the filter is
// by the shop's calendar day, whose zone we do not know).
const recentListing = 8 * 24 * time.Hour

// listOrder is the order an account's lists are read in: reference lists
// first (cheap; everything refers to them), then listings a previous run
// left unfinished (so a pass longer than one night's budget completes),
// then the rest, each group in mgr.All's order.
func listOrder(rs []mgrRes, st accountState) []mgrRes {
	rank := func(r mgrRes) int {
		switch {
		case r.res.Reference:
			return 0
		case st.unfinished[r.res.Name]:
			return 1
		}
		return 2
	}
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b mgrRes) int { return rank(a) - rank(b) })
	return out
}

// mergeDue is the detail queue of a run: what earlier runs left due, updated
// by what this run listed, in priority order.
func mergeDue(earlier []load.Due, listed map[string]load.Due, now time.Time) []load.Due {
	byID := make(map[string]load.Due, len(earlier)+len(listed))
	for _, d := range earlier {
		byID[d.ID] = d
	}
	for id, d := range listed {
		byID[id] = d
	}
	out := make([]load.Due, 0, len(byID))
	for _, d := range byID {
		out = append(out, d)
	}
	prioritise(out, now)
	return out
}

// maxFailureStreak is how many failures in a row (lists or details the API
// refused or kept failing on) an account's run goes on after: past it the
// API is taken to be down and the account stops.
const maxFailureStreak = 3

// failures collects what failed in an account's run without ending it. A
// list or detail the API refuses (a 400, a 404 list, an answer that is not
// JSON after the client's retries) is logged and left for the next run
// while the rest goes on: one broken endpoint or record must not cost the
// night's other data. Key, rate and budget errors still stop the account.
type failures struct {
	what   []string
	streak int
}

// add notes a failure and says whether the account should stop.
func (f *failures) add(log *slog.Logger, what string, err error) bool {
	f.what = append(f.what, what+": "+err.Error())
	f.streak++
	log.Error("failed; the rest goes on and the next run tries again", "while", what, "error", err)
	return f.streak >= maxFailureStreak
}

// ok notes a success: the streak of failures is broken.
func (f *failures) ok() { f.streak = 0 }

// settle marks res failed when anything failed, keeping what it already says.
func (f *failures) settle(res *load.AccountResult) {
	if len(f.what) == 0 {
		return
	}
	msg := fmt.Sprintf("account %s: %d part(s) failed and are tried again next run: %s", res.Account, len(f.what), strings.Join(f.what, "; "))
	if res.Error != "" {
		msg = res.Error + "; " + msg
	}
	res.Status, res.Error = load.StatusFailed, msg
}

// leftover describes what a stopped account leaves for the next run.
type leftover struct {
	order    []string      // detail resources, in the order to report them
	interval time.Duration // one request at the key's pace
	pace     string        // that pace in words ("27/min")
	at       map[string]int
	unlisted []string
	due      map[string]int
	other    []string // anything else left (failed KPI windows)
}

func mgrLeftover(a Account) *leftover {
	rpm := a.RequestsPerMinute
	if rpm == 0 {
		rpm = mgr.DefaultRequestsPerMinute
	}
	pace := float64(rpm) * budget.DefaultHeadroom
	l := &leftover{interval: time.Duration(float64(time.Minute) / pace), pace: fmt.Sprintf("%.0f/min", pace)}
	for _, r := range mgr.All {
		l.order = append(l.order, r.Name)
	}
	return l
}

func (l *leftover) listAt(res string, next int) {
	if l.at == nil {
		l.at = map[string]int{}
	}
	l.at[res] = next
}

func (l *leftover) listDone(res string) { delete(l.at, res) }

func (l *leftover) lists(rs []mgrRes) {
	for _, r := range rs {
		l.unlisted = append(l.unlisted, r.res.Name)
	}
}

// details counts the details due when the lists stop: what earlier runs
// left and what this run's listing found so far.
func (l *leftover) details(rs []mgrRes, st accountState, dueNow map[string]map[string]load.Due) {
	l.due = map[string]int{}
	for _, r := range rs {
		if r.res.Detail {
			l.due[r.res.Name] = len(mergeDue(st.due[r.res.Name], dueNow[r.res.Name], time.Time{}))
		}
	}
}

func (l *leftover) String() string {
	var parts []string
	if len(l.unlisted) > 0 {
		var ls []string
		for _, r := range l.unlisted {
			if off := l.at[r]; off > 0 {
				ls = append(ls, fmt.Sprintf("%s (from offset %d)", r, off))
			} else {
				ls = append(ls, r)
			}
		}
		parts = append(parts, "lists "+strings.Join(ls, ", "))
	}
	details := 0
	var ds []string
	for _, r := range l.order {
		if n := l.due[r]; n > 0 {
			ds = append(ds, fmt.Sprintf("%s %d", r, n))
			details += n
		}
	}
	if len(ds) > 0 {
		parts = append(parts, "details "+strings.Join(ds, ", "))
	}
	parts = append(parts, l.other...)
	if len(parts) == 0 {
		return "nothing left"
	}
	return fmt.Sprintf("left for the next run: %s (%d detail request(s) ≈ %s at %s, plus the unfinished lists)",
		strings.Join(parts, "; "), details, (time.Duration(details) * l.interval).Round(time.Second), l.pace)
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
