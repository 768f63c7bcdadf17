package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/listing"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// account is one account's extraction in one run: its session's tasks in
// order, then the detail queue, for as long as its budget lasts. It is the
// Emitter the tasks send their responses to.
type account struct {
	a      extract.Account
	src    *extract.Source
	key    string
	ledger *budget.Ledger
	runID  string
	clock  budget.Clock
	log    *slog.Logger
	pages  chan<- page
	// preparing holds a token while this account turns a page into rows
	// and hands them to the loader (nil: no bound).
	preparing chan struct{}
	hook      func(point string) // crash points (Options.Hook)

	sess    extract.Session
	openErr error
	tasks   []extract.Task
	// details are the account's resources with a detail, in budget order.
	details []extract.Resource
	// fetched is, per detail resource, the list fingerprint each record's
	// detail was fetched for; due what earlier runs left due; dueNow what
	// this run's listings found due.
	fetched map[string]map[string]string
	due     map[string][]load.Due
	dueNow  map[string]map[string]load.Due
	left    leftover
	fails   failures
	// zoned: the account's time zone is configured or already noted.
	zoned bool
	// raw is the raw archive, where the webhook event logs are; eventsAt
	// where this run reads the account's log from.
	raw      string
	eventsAt int64
	// named are the records webhook events named, by resource, whose
	// details the run fetches before anything else; fetchedNow the
	// details this run fetched.
	named      map[string][]string
	fetchedNow map[string]map[string]bool
	// progress is the account's line in prog (both nil: no display).
	prog     *Progress
	progress *accountProgress
}

// prepare opens the account's session and reads what it starts from: its
// cursors, its detail queue. A session that cannot open fails the account
// (in run), not the run.
func (x *account) prepare(ctx context.Context, w *load.Warehouse, lim Limits) error {
	x.sess, x.openErr = x.src.Open(extract.Env{Account: x.a, RunID: x.runID, Key: x.key, Ledger: x.ledger, Clock: x.clock, Log: x.log,
		MaxRequests: lim.MaxRequests, Deadline: lim.Deadline, Hook: x.hook})
	if x.openErr != nil {
		return nil
	}
	st, err := newStored(ctx, w, x.a.Name)
	if err != nil {
		return err
	}
	x.fetched, x.due, x.dueNow = map[string]map[string]string{}, map[string][]load.Due{}, map[string]map[string]load.Due{}
	for _, r := range x.src.AccountResources(x.a) {
		if !r.Detail {
			continue
		}
		x.details = append(x.details, r)
		x.dueNow[r.Name] = map[string]load.Due{}
		if x.fetched[r.Name], x.due[r.Name], err = w.DetailState(ctx, x.a.Name, r.Name); err != nil {
			return err
		}
	}
	x.left = newLeftover(x.src.Pace(x.a), x.details)
	x.eventsAt = EventOffset(st.Cursor(EventsCursor))
	x.tasks, x.openErr = x.sess.Tasks(ctx, st)
	return nil
}

// Emit decodes a task's response (the same decoding a rebuild does), notes
// which records' details are due, and queues it for the loader.
func (x *account) Emit(ctx context.Context, r extract.Response) error {
	e := r.Entry
	d, err := x.src.Decode(e)
	if err != nil {
		return fmt.Errorf("%s page: %w", e.Resource, err)
	}
	if fetched, ok := x.fetched[e.Resource]; ok {
		for _, l := range d.Listed {
			had, was := fetched[l.ID]
			if had != l.Fingerprint {
				x.dueNow[e.Resource][l.ID] = load.Due{ID: l.ID, Fingerprint: l.Fingerprint, Created: l.Created, Changed: was}
			}
		}
	}
	if r.Next > 0 {
		x.left.listAt(e.Resource, r.Next)
	}
	p := page{entry: e, cursor: r.Cursor, cursorKey: r.CursorKey}
	if !x.zoned && x.a.Timezone == "" {
		if p.zone = zoneOf(d); p.zone != "" {
			x.zoned = true
			x.log.Info("no timezone configured: days and months count in the offset the source's timestamps carry", "zone", p.zone)
		}
	}
	return x.sendPrepared(ctx, p, d)
}

// zoneOf is the UTC offset the records' business date carries (MGR writes
// its instants in the shop's offset), or "".
func zoneOf(d extract.Decoded) string {
	t := d.Table
	if t == nil || t.PartitionBy == "" {
		return ""
	}
	c := t.Columns[t.ColumnIndex(t.PartitionBy)]
	if c.Type != schema.Timestamp || len(c.Paths) == 0 {
		return ""
	}
	var recs []map[string]any
	if json.Unmarshal(d.Records, &recs) != nil {
		return ""
	}
	for _, rec := range recs[:min(len(recs), 5)] {
		for _, path := range c.Paths {
			if v, ok := dig(rec, path).(string); ok {
				if z, ok := transform.Zone(v); ok {
					return z
				}
			}
		}
	}
	return ""
}

// dig finds a dotted path in a decoded JSON object.
func dig(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// sendPrepared transforms a response here, in the account's goroutine,
// while the loader stages earlier pages, and queues it.
func (x *account) sendPrepared(ctx context.Context, p page, d extract.Decoded) error {
	e := p.entry
	e.Account, e.RunID = x.a.Name, x.runID
	if x.preparing != nil {
		select {
		case x.preparing <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-x.preparing }()
	}
	if x.hook != nil {
		x.hook(HookTransforming)
	}
	rows, err := prepare(e, d)
	if err != nil {
		return err
	}
	p.rows = rows
	if err := x.send(ctx, p); err != nil {
		rows.release()
		return err
	}
	return nil
}

func (x *account) send(ctx context.Context, p page) error {
	p.src, p.account = x.src, x.a.Name
	select {
	case x.pages <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// verdict is what a failure means, cancellation first.
func (x *account) verdict(ctx context.Context, err error) extract.Verdict {
	if ctx.Err() != nil {
		return extract.Partial // a signal (or a failed load): stop, say what is left
	}
	return x.sess.Verdict(err)
}

// run spends the account's budget by priority: the session's tasks in
// order (its lists), noting which records need their detail; then the
// details, changed and recent ones first, newest first. A part that fails
// fails only itself (and is tried again next run) until a streak of
// failures says the API is down; a failure the source says stops the
// account (the key, its rate, the run's caps) stops it cleanly: what was
// fetched is committed and the next run carries on.
func (x *account) run(ctx context.Context) (res load.AccountResult) {
	res = load.AccountResult{Account: x.a.Name, Source: x.a.Source, Status: load.StatusOK}
	if x.openErr != nil {
		res.Status, res.Error = load.StatusFailed, fmt.Sprintf("account %s: %v", x.a.Name, x.openErr)
		x.finished(res)
		return res
	}
	defer func() {
		res.Requests = x.sess.Requests()
		shown := res
		if ctx.Err() != nil && res.Status != load.StatusOK {
			shown.Status = load.StatusInterrupted // what the bar says: a signal stopped it
		}
		x.finished(shown)
	}()
	if until := x.sess.CoolingUntil(); until.After(x.clock.Now()) {
		x.log.Warn("waiting out a rate-limit silence recorded on this key (by this or another process)", "until", until.Format(time.RFC3339), "ledger", x.ledger.Path())
	}
	stop := func(what string, err error, v extract.Verdict) load.AccountResult {
		res.Status, res.Error = load.StatusFailed, fmt.Sprintf("account %s: %s: %v", x.a.Name, what, err)
		if v == extract.Partial {
			res.Status = load.StatusPartial
			x.left.other = x.sess.Gaps()
			res.Left = x.left.String()
			res.Error += "; " + res.Left
		}
		x.log.Error("extract stopped", "while", what, "error", err)
		x.fails.settle(&res)
		return res
	}

	// Webhook events first: they cost no request, and they name what
	// changed.
	if err := x.events(ctx); err != nil {
		if ctx.Err() != nil {
			return stop("loading webhook events", err, x.verdict(ctx, err))
		}
		x.fails.add(x.log, "loading webhook events", err)
	}
	x.fetchedNow = map[string]map[string]bool{}
	for _, r := range x.details {
		for _, id := range x.named[r.Name] {
			if v, err := x.detail(ctx, r, load.Due{ID: id}); err != nil {
				if v == extract.Skip {
					// An event may name what the API will not serve;
					// the listings catch real changes: not a failure.
					x.log.Warn("the detail a webhook event names could not be fetched; the listings will catch the change", "resource", r.Name, "id", id, "error", err)
					continue
				}
				x.left.lists(x.tasks)
				return stop(fmt.Sprintf("details of %s %s (named by a webhook event)", r.Name, id), err, v)
			}
		}
	}
	for i, t := range x.tasks {
		err := t.Run(ctx, x)
		if err == nil {
			x.fails.ok()
			x.left.listDone(t.Resource)
			x.log.Info("extracted", "resource", t.Resource, "requests", x.sess.Requests())
			continue
		}
		v := x.verdict(ctx, err)
		if (v == extract.Skip || v == extract.Gone) && !x.fails.add(x.log, t.Name, err) {
			continue
		}
		x.left.lists(x.tasks[i:])
		x.left.details(x.queue(time.Time{}))
		return stop(t.Name, err, v)
	}

	queue := x.queue(x.clock.Now())
	// What the queue is made of is not read again: a first export's listed
	// records are most of an account's memory while it fetches details.
	x.fetched, x.due, x.dueNow = nil, nil, nil
	if len(queue) > 0 {
		x.log.Info("fetching details", "due", len(queue))
	}
	for j, it := range queue {
		x.queued(len(queue) - j)
		r, d := it.r, it.d
		v, err := x.detail(ctx, r, d)
		if err == nil {
			continue
		}
		what := fmt.Sprintf("details of %s %s", r.Name, d.ID)
		if v == extract.Skip && !x.fails.add(x.log, what, err) {
			continue
		}
		x.left.due = map[string]int{}
		for _, rest := range queue[j:] {
			x.left.due[rest.r.Name]++
		}
		return stop(what, err, v)
	}
	if len(queue) > 0 {
		x.log.Info("details fetched", "count", len(queue), "requests", x.sess.Requests())
	}
	if gaps := x.sess.Gaps(); gaps != "" {
		res.Status, res.Error = load.StatusPartial, fmt.Sprintf("account %s: %s", x.a.Name, gaps)
	}
	x.fails.settle(&res)
	return res
}

// detail fetches one record's detail and queues it for the loader; a 404
// queues the record's deletion. On failure it says what the failure means.
func (x *account) detail(ctx context.Context, r extract.Resource, d load.Due) (extract.Verdict, error) {
	if x.fetchedNow[r.Name] == nil {
		x.fetchedNow[r.Name] = map[string]bool{}
	}
	x.fetchedNow[r.Name][d.ID] = true
	p, err := x.sess.Detail(ctx, r.Name, d.ID)
	if err == nil {
		fp := d.Fingerprint
		if fp == "" && x.src.Webhooks != nil && x.src.Webhooks.Fingerprint != nil {
			fp = x.src.Webhooks.Fingerprint(r.Name, p.Body) // named by an event, not listed
		}
		e := p.DetailEntry(fp)
		dec, derr := x.src.Decode(e)
		if err = derr; err == nil {
			err = x.sendPrepared(ctx, page{entry: e}, dec)
		}
	} else if x.verdict(ctx, err) == extract.Gone {
		x.log.Warn("listed record has no detail (deleted since?); it leaves the queue and is marked deleted", "resource", r.Name, "id", d.ID)
		e := archive.Gone(r.Name, d.ID, d.Fingerprint, x.clock.Now())
		var dec extract.Decoded
		if dec, err = decode(x.src, e); err == nil {
			err = x.sendPrepared(ctx, page{entry: e}, dec)
		}
	}
	if err != nil {
		return x.verdict(ctx, err), err
	}
	x.fails.ok()
	return extract.Skip, nil
}

// item is one detail to fetch.
type item struct {
	r extract.Resource
	d load.Due
}

// queue is the detail queue of the run: what earlier runs left due, updated
// by what this run listed, across the account's detail resources, in
// priority order.
func (x *account) queue(now time.Time) []item {
	var q []item
	for _, r := range x.details {
		byID := map[string]load.Due{}
		for _, d := range x.due[r.Name] {
			byID[d.ID] = d
		}
		for id, d := range x.dueNow[r.Name] {
			byID[id] = d
		}
		for _, d := range byID {
			if !x.fetchedNow[r.Name][d.ID] { // fetched first, for a webhook event
				q = append(q, item{r, d})
			}
		}
	}
	prioritiseBy(q, func(it item) load.Due { return it.d }, now)
	return q
}

// RecentWindow is how new a never-fetched record must be for its detail to
// come before the backfill of older ones.
const RecentWindow = 30 * 24 * time.Hour

// Prioritise orders due details: changed records and recent new ones
// first, then the backfill; newest first within each.
func Prioritise(due []load.Due, now time.Time) {
	prioritiseBy(due, func(d load.Due) load.Due { return d }, now)
}

// prioritiseBy is Prioritise for items that carry a Due.
func prioritiseBy[T any](items []T, due func(T) load.Due, now time.Time) {
	class := func(d load.Due) int {
		if d.Changed || now.Sub(d.Created) < RecentWindow {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(items, func(x, y T) int {
		a, b := due(x), due(y)
		if ca, cb := class(a), class(b); ca != cb {
			return cmp.Compare(ca, cb)
		}
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
}

// MaxFailureStreak is how many failures in a row (lists or details the API
// refused or kept failing on) an account's run goes on after: past it the
// API is taken to be down and the account stops.
const MaxFailureStreak = 3

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
	return f.streak >= MaxFailureStreak
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
	order    []string // detail resources, in the order to report them
	pace     extract.Pace
	at       map[string]int // resource → where its unfinished listing goes on
	unlisted []string
	due      map[string]int
	other    string // anything else left (failed KPI windows)
}

func newLeftover(p extract.Pace, details []extract.Resource) leftover {
	l := leftover{pace: p, at: map[string]int{}}
	for _, r := range details {
		l.order = append(l.order, r.Name)
	}
	return l
}

func (l *leftover) listAt(res string, next int) { l.at[res] = next }

func (l *leftover) listDone(res string) { delete(l.at, res) }

// lists notes the resources of the tasks not done.
func (l *leftover) lists(tasks []extract.Task) {
	for _, t := range tasks {
		if !slices.Contains(l.unlisted, t.Resource) {
			l.unlisted = append(l.unlisted, t.Resource)
		}
	}
}

// details counts the details due when the lists stop.
func (l *leftover) details(q []item) {
	l.due = map[string]int{}
	for _, it := range q {
		l.due[it.r.Name]++
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
	if l.other != "" {
		parts = append(parts, l.other)
	}
	if len(parts) == 0 {
		return "nothing left"
	}
	return fmt.Sprintf("left for the next run: %s (%d detail request(s) ≈ %s at %s, plus the unfinished lists)",
		strings.Join(parts, "; "), details, (time.Duration(details) * l.pace.Interval()).Round(time.Second), l.pace.Label)
}

// toLoad converts listed records for the detail queue.
func toLoad(ls []listing.Listed) []load.Listed {
	out := make([]load.Listed, len(ls))
	for i, l := range ls {
		out[i] = load.Listed{ID: l.ID, Fingerprint: l.Fingerprint, Created: l.Created}
	}
	return out
}
