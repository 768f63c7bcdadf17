package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/listing"
	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// roRes is a RepairOps resource with the table it loads.
type roRes struct {
	res   repairops.Resource
	table *schema.Table
}

func roResource(name string) (roRes, bool) {
	res, ok := repairops.Lookup(name)
	if !ok {
		return roRes{}, false
	}
	for _, t := range schema.RepairOpsTables {
		if !t.IsChild() && t.Resource == name {
			return roRes{res: res, table: t}, true
		}
	}
	return roRes{}, false
}

func roResourceNames() []string {
	out := make([]string, len(repairops.All))
	for i, r := range repairops.All {
		out[i] = r.Name
	}
	return out
}

// roAccountResources is what a RepairOps account exports, in budget order.
func roAccountResources(a Account) []roRes {
	var out []roRes
	for _, r := range repairops.All {
		if len(a.Resources) > 0 && !slices.Contains(a.Resources, r.Name) {
			continue
		}
		if rr, ok := roResource(r.Name); ok {
			out = append(out, rr)
		}
	}
	return out
}

// allShops is the shop_id of KPI rows asked for the organisation as a whole.
const allShops = "all"

// stageRepairOps is stageEntry for RepairOps. Both views of a ticket or a
// customer — the list's summary and the detail — are staged partially:
// each lacks fields the other has (the detail has no shop_id or
// assigned_to, the list no email or severity), so neither may erase the
// other's columns. The detail replaces the child tables.
func stageRepairOps(ctx context.Context, w *load.Warehouse, e archive.Entry, chosen func(*schema.Table) bool) (bool, error) {
	r, ok := roResource(e.Resource)
	if !ok || (chosen != nil && !chosen(r.table)) {
		return false, nil
	}
	detail := e.Kind == archive.KindDetail
	recs, err := repairops.Records(e.Body, detail, e.Dropped)
	if err != nil {
		return false, fmt.Errorf("%s page %d: %w", e.Resource, e.Seq, err)
	}
	var fixed map[string]string
	if r.res.Name == repairops.KPIs.Name {
		shop := e.Params.Get("shop_id")
		if shop == "" {
			shop = allShops
		}
		fixed = map[string]string{"shop_id": shop}
	}
	b, err := transform.Page(r.table, recs, transform.Meta{Account: e.Account, RunID: e.RunID, ExtractedAt: e.FetchedAt, Fixed: fixed}, nil)
	if err != nil {
		return false, fmt.Errorf("%s page %d: %w", e.Resource, e.Seq, err)
	}
	defer b.Release()
	switch {
	case r.res.Detail && !detail:
		err = w.StagePartial(ctx, e.Account, b)
		w.NoteListed(e.Account, e.Resource, toLoad(repairops.Listing(r.res, recs)))
	case r.res.Detail:
		err = w.StagePartial(ctx, e.Account, b)
		if id := detailID(recs); id != "" {
			w.NoteFetched(e.Account, e.Resource, id, e.Fingerprint, load.DetailOK, e.FetchedAt)
		}
	default:
		err = w.Stage(ctx, e.Account, b)
	}
	return true, err
}

// roCursor is the committed position of a RepairOps ticket or customer
// listing.
type roCursor struct {
	Pass string `json:"pass"` // "in_progress" | "complete"
	Next int    `json:"next_offset,omitempty"`
	// PassStarted is when the unfinished full pass began: a resumed pass
	// first lists what changed since (those records moved to the head).
	PassStarted time.Time `json:"pass_started,omitzero"`
	// PassMax is the newest time the unfinished pass has seen.
	PassMax time.Time `json:"pass_max,omitzero"`
	// Watermark is the newest updated_at (tickets) or created_at
	// (customers) of everything listed by complete listings.
	Watermark time.Time `json:"watermark,omitzero"`
	// LastFull is when the last full customer pass completed.
	LastFull time.Time `json:"last_full,omitzero"`
	RunID    string    `json:"run_id"`
}

func (c roCursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func parseRoCursor(v string) roCursor {
	var c roCursor
	if v != "" {
		json.Unmarshal([]byte(v), &c) // a garbled cursor starts over: a full pass
	}
	return c
}

// kpiCursor is the last day of a shop's KPIs loaded without a gap.
type kpiCursor struct {
	Through string `json:"through"`
	RunID   string `json:"run_id"`
}

func (c kpiCursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// resumeOverlap is how many records before its committed position an
// unfinished pass resumes (records deleted meanwhile shift the rest up).
const resumeOverlap = 10

// Defaults of the RepairOps account keys.
const (
	defaultLookbackDays     = 2
	defaultKPIRereadDays    = 7
	defaultCustomerFullDays = 7
	defaultKPIYears         = 2
)

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

const day = 24 * time.Hour

// loadRepairOpsState reads what a RepairOps account's extraction starts
// from: its cursors, its detail queues and the shops its tickets name.
func loadRepairOpsState(ctx context.Context, w *load.Warehouse, a Account, st accountState) (accountState, error) {
	var err error
	if st.cursors, err = w.Cursors(ctx, a.Name, ""); err != nil {
		return st, err
	}
	for _, r := range roAccountResources(a) {
		if r.res.Detail {
			if st.fetched[r.res.Name], st.due[r.res.Name], err = w.DetailState(ctx, a.Name, r.res.Name); err != nil {
				return st, err
			}
		}
	}
	res, err := w.Query(ctx, `SELECT DISTINCT shop_id FROM repairops.tickets WHERE account = ? AND shop_id IS NOT NULL ORDER BY 1`, a.Name)
	if err != nil {
		return st, fmt.Errorf("read the shops of %s: %w", a.Name, err)
	}
	for _, row := range res.Rows {
		st.shops = append(st.shops, row[0])
	}
	return st, nil
}

// roRun is one RepairOps account's extraction in one run.
type roRun struct {
	a      Account
	c      *repairops.Client
	st     accountState
	runID  string
	clock  budget.Clock
	log    *slog.Logger
	pages  chan<- page
	dueNow map[string]map[string]load.Due
	shops  map[string]bool // shop ids the tickets listed in this run name
	// kpiGaps are the KPI windows that failed and are asked again next run.
	kpiGaps []string
	// kpiRefused: the shop's last KPI window was refused for another
	// reason than its dates, or its last maxFailureStreak windows failed;
	// its later windows are not asked this run. kpiFails counts the
	// failures in a row.
	kpiRefused bool
	kpiFails   int
	// unsorted: the API refused sort=-updated_at, so ticket listings come
	// in its own order and are read to the end.
	unsorted bool
}

func (x *roRun) send(ctx context.Context, p page) error {
	p.account, p.source = x.a.Name, x.a.Source
	select {
	case x.pages <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emit sends a list page with the cursor that follows it, noting which
// records' details are due and which shops the tickets name.
func (x *roRun) emit(ctx context.Context, r roRes, p repairops.Page, cursorKey, cursor string) error {
	if r.res.Detail {
		for _, l := range repairops.Listing(r.res, p.Records) {
			had, fetched := x.st.fetched[r.res.Name][l.ID]
			if had != l.Fingerprint {
				x.dueNow[r.res.Name][l.ID] = load.Due{ID: l.ID, Fingerprint: l.Fingerprint, Created: l.Created, Changed: fetched}
			}
		}
	}
	if r.res.Name == repairops.Tickets.Name {
		var recs []map[string]any
		json.Unmarshal(p.Records, &recs)
		for _, rec := range recs {
			if s, ok := rec["shop_id"].(string); ok && s != "" {
				x.shops[s] = true
			}
		}
	}
	return x.send(ctx, page{cursor: cursor, cursorKey: cursorKey, entry: archive.Entry{Resource: r.res.Name, Kind: archive.KindList,
		Params: p.Params, FetchedAt: p.FetchedAt, Dropped: p.Dropped, Body: p.Body}})
}

// extractRepairOps spends a RepairOps account's budget: inventory, the
// ticket and customer listings (incremental once a full pass is done),
// KPIs by window, then the details due, changed and recent first, newest
// first, for as long as the hour's quota (less its reserve) and the run's
// caps allow. What is left waits in the queue for the next run.
func extractRepairOps(ctx context.Context, a Account, key string, ledger *budget.Ledger, runID string, st accountState, lim runLimits, clock budget.Clock, log *slog.Logger, pages chan<- page) (res load.AccountResult) {
	res = load.AccountResult{Account: a.Name, Source: a.Source, Status: load.StatusOK}
	log = log.With("account", a.Name)
	c, err := roClient(a, key, ledger, clock, log, repairops.WithRunBudget(lim.maxRequests, lim.deadline))
	if err != nil {
		res.Status, res.Error = load.StatusFailed, err.Error()
		return res
	}
	defer func() { res.Requests = c.Requests() }()
	if until := c.CoolingUntil(); until.After(clock.Now()) {
		log.Warn("waiting out a 429 recorded on this key (by this or another process)", "until", until.Format(time.RFC3339), "ledger", ledger.Path())
	}
	x := &roRun{a: a, c: c, st: st, runID: runID, clock: clock, log: log, pages: pages,
		dueNow: map[string]map[string]load.Due{}, shops: map[string]bool{}}
	resources := roAccountResources(a)
	for _, r := range resources {
		if r.res.Detail {
			x.dueNow[r.res.Name] = map[string]load.Due{}
		}
	}
	left := roLeftover(a)
	var fails failures
	stop := func(what string, err error) load.AccountResult {
		res.Status, res.Error = load.StatusFailed, fmt.Sprintf("account %s: %s: %v", a.Name, what, err)
		if errors.Is(err, repairops.ErrRunBudget) || errors.Is(err, repairops.ErrQuota) {
			res.Status = load.StatusPartial
			res.Error += "; " + left.String()
		}
		log.Error("extract stopped", "while", what, "error", err)
		fails.settle(&res)
		return res
	}
	fatal := func(err error) bool {
		return errors.Is(err, repairops.ErrAuth) || errors.Is(err, repairops.ErrQuota) || errors.Is(err, repairops.ErrRunBudget) || ctx.Err() != nil
	}
	dueCounts := func() map[string]int {
		out := map[string]int{}
		for _, r := range resources {
			if r.res.Detail {
				out[r.res.Name] = len(mergeDue(st.due[r.res.Name], x.dueNow[r.res.Name], time.Time{}))
			}
		}
		return out
	}

	for i, r := range resources {
		var err error
		switch r.res.Name {
		case repairops.Inventory.Name:
			err = c.List(ctx, r.res, func(p repairops.Page) error {
				cur := ""
				if p.Last {
					cur = roCursor{Pass: "complete", RunID: runID}.String()
				}
				return x.emit(ctx, r, p, "", cur)
			})
		case repairops.Tickets.Name:
			err = x.tickets(ctx, r)
		case repairops.Customers.Name:
			err = x.customers(ctx, r)
		case repairops.KPIs.Name:
			err = x.kpis(ctx, r)
		}
		if err != nil && (fatal(err) || fails.add(log, "listing "+r.res.Name, err)) {
			for _, rest := range resources[i:] {
				left.unlisted = append(left.unlisted, rest.res.Name)
			}
			left.due = dueCounts()
			return stop("listing "+r.res.Name, err)
		}
		if err != nil {
			continue
		}
		fails.ok()
		log.Info("extracted", "resource", r.res.Name, "requests", c.Requests())
	}

	type item struct {
		r roRes
		d load.Due
	}
	var queue []item
	for _, r := range resources {
		if !r.res.Detail {
			continue
		}
		for _, d := range mergeDue(st.due[r.res.Name], x.dueNow[r.res.Name], clock.Now()) {
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
		if repairops.IsNotFound(err) {
			log.Warn("listed record has no detail (deleted since?); it leaves the queue", "resource", r.res.Name, "id", d.ID)
			err = x.send(ctx, page{entry: archive.Entry{Resource: r.res.Name, FetchedAt: clock.Now()}, gone: &d})
		} else if err == nil {
			err = x.send(ctx, page{entry: archive.Entry{Resource: r.res.Name, Kind: archive.KindDetail, FetchedAt: p.FetchedAt, Fingerprint: d.Fingerprint, Body: p.Body}})
		}
		what := fmt.Sprintf("details of %s %s", r.res.Name, d.ID)
		if err != nil && (fatal(err) || fails.add(log, what, err)) {
			left.due = map[string]int{}
			for _, rest := range queue[j:] {
				left.due[rest.r.res.Name]++
			}
			left.other = x.kpiGaps
			return stop(what, err)
		}
		if err == nil {
			fails.ok()
		}
	}
	if len(queue) > 0 {
		log.Info("details fetched", "count", len(queue), "requests", c.Requests())
	}
	if len(x.kpiGaps) > 0 {
		res.Status = load.StatusPartial
		res.Error = fmt.Sprintf("account %s: %d KPI window(s) failed (logged above); the next run asks for them again: %s", a.Name, len(x.kpiGaps), strings.Join(x.kpiGaps, ", "))
	}
	fails.settle(&res)
	return res
}

// roClient is the account's client as its config sets it up: base URL,
// hourly quota, page size, the key's shared ledger; more adds to it.
func roClient(a Account, key string, ledger *budget.Ledger, clock budget.Clock, log *slog.Logger, more ...repairops.Option) (*repairops.Client, error) {
	opts := []repairops.Option{repairops.WithClock(clock), repairops.WithLogger(log), repairops.WithLedger(ledger)}
	if a.BaseURL != "" {
		opts = append(opts, repairops.WithBaseURL(a.BaseURL))
	}
	if a.RequestsPerHour > 0 {
		opts = append(opts, repairops.WithRateLimit(a.RequestsPerHour, time.Hour, 0))
	}
	if a.PageSize > 0 {
		opts = append(opts, repairops.WithPageSize(a.PageSize))
	}
	return repairops.NewClient(key, append(opts, more...)...)
}

func roLeftover(a Account) *leftover {
	perHour := float64(orDefault(a.RequestsPerHour, repairops.DefaultRequestsPerHour)) * budget.DefaultHeadroom
	l := &leftover{interval: time.Duration(float64(time.Hour) / perHour), pace: fmt.Sprintf("%.0f/h", perHour)}
	for _, r := range repairops.All {
		if r.Detail {
			l.order = append(l.order, r.Name)
		}
	}
	return l
}

// tickets lists tickets newest change first. Once a full pass is complete,
// a run reads only down to the watermark less the lookback; a first (or
// unfinished) pass reads everything, resuming where it stopped after
// reading what changed since it began.
func (x *roRun) tickets(ctx context.Context, r roRes) error {
	cur := parseRoCursor(x.st.cursors[r.res.Name])
	lookback := time.Duration(orDefault(x.a.LookbackDays, defaultLookbackDays)) * day
	res := r.res
	res.Params = url.Values{"sort": {"-updated_at"}}
	if cur.Pass == "complete" && !cur.Watermark.IsZero() {
		newest, err := x.head(ctx, r, res, cur.Watermark.Add(-lookback), func(newest time.Time) string {
			return roCursor{Pass: "complete", Watermark: latestOf(cur.Watermark, newest), RunID: x.runID}.String()
		})
		if err == nil {
			x.log.Info("tickets listed since the watermark", "watermark", cur.Watermark.Format(time.RFC3339), "newest", newest.Format(time.RFC3339))
		}
		return err
	}
	start := 0
	if cur.Pass == "in_progress" && !cur.PassStarted.IsZero() {
		// Tickets changed since the pass began moved to the head, ahead
		// of where it stopped: read them first. The unfinished pass keeps
		// its cursor until its own pages move it on.
		keep := cur.String()
		newest, err := x.head(ctx, r, res, cur.PassStarted.Add(-lookback), func(time.Time) string { return keep })
		if err != nil {
			return err
		}
		cur.PassMax = latestOf(cur.PassMax, newest)
		start = max(cur.Next-resumeOverlap, 0)
		x.log.Info("resuming an unfinished ticket pass", "offset", start)
	} else {
		cur = roCursor{Pass: "in_progress", PassStarted: x.clock.Now()}
	}
	return x.sortedList(ctx, res, start, func(p repairops.Page) error {
		for _, l := range repairops.Listing(r.res, p.Records) {
			cur.PassMax = latestOf(cur.PassMax, l.Created)
		}
		next := roCursor{Pass: "in_progress", Next: p.Next, PassStarted: cur.PassStarted, PassMax: cur.PassMax, RunID: x.runID}
		if p.Last {
			next = roCursor{Pass: "complete", Watermark: latestOf(cur.PassMax, cur.Watermark), RunID: x.runID}
		}
		return x.emit(ctx, r, p, "", next.String())
	})
}

// head lists a resource sorted newest change first until a page reaches
// records older than stopAt, and returns the newest time seen. If the API
// turns out not to honour the sort, it reads to the end instead: stopping
// early is only safe on a sorted listing. cursor gives the cursor of the
// listing's last page.
func (x *roRun) head(ctx context.Context, r roRes, res repairops.Resource, stopAt time.Time, cursor func(newest time.Time) string) (time.Time, error) {
	var newest, prev time.Time
	sorted := true
	err := x.sortedList(ctx, res, 0, func(p repairops.Page) error {
		var oldest time.Time
		for _, l := range repairops.Listing(r.res, p.Records) {
			if l.Created.IsZero() {
				continue
			}
			if !prev.IsZero() && l.Created.After(prev) && sorted {
				sorted = false
				x.log.Warn("the API did not sort the listing by -updated_at; reading it to the end", "resource", res.Name, "offset", p.Params.Get("offset"))
			}
			prev, oldest = l.Created, l.Created
			newest = latestOf(newest, l.Created)
		}
		last := p.Last || (sorted && !x.unsorted && !oldest.IsZero() && oldest.Before(stopAt))
		cur := ""
		if last {
			cur = cursor(newest)
		}
		if err := x.emit(ctx, r, p, "", cur); err != nil {
			return err
		}
		if last {
			return repairops.StopListing
		}
		return nil
	})
	return newest, err
}

// sortedList lists res from start with its sort. Should the API refuse
// the sort (400 before any page: the docs show only sort=-created_at), it
// lists again without it and sets x.unsorted, so that head reads to the
// end: a night then costs the whole list, but misses nothing.
func (x *roRun) sortedList(ctx context.Context, res repairops.Resource, start int, fn func(repairops.Page) error) error {
	if !x.unsorted {
		delivered := false
		err := x.c.ListFrom(ctx, res, start, func(p repairops.Page) error { delivered = true; return fn(p) })
		if err == nil || delivered || !repairops.IsInvalidRequest(err) || res.Params.Get("sort") == "" {
			return err
		}
		x.unsorted = true
		x.log.Warn("the API refused the sort; listing in its own order, to the end", "resource", res.Name, "sort", res.Params.Get("sort"), "error", err)
	}
	res.Params = maps.Clone(res.Params)
	res.Params.Del("sort")
	return x.c.ListFrom(ctx, res, start, fn)
}

// customers lists customers: in full on the first run and every
// customer_full_pass_days (lifetime figures of old customers change), else
// only those created since the watermark (less a day: the filter is by
// date).
func (x *roRun) customers(ctx context.Context, r roRes) error {
	cur := parseRoCursor(x.st.cursors[r.res.Name])
	every := time.Duration(orDefault(x.a.CustomerFullPassDays, defaultCustomerFullDays)) * day
	now := x.clock.Now()
	created := []string{"created_at", "createdAt"}
	newestOf := func(p repairops.Page, t time.Time) time.Time {
		for _, l := range listing.Summarise(p.Records, nil, created) {
			t = latestOf(t, l.Created)
		}
		return t
	}
	if cur.Pass == "complete" && !cur.LastFull.IsZero() && now.Sub(cur.LastFull) < every && !cur.Watermark.IsZero() {
		res := r.res
		res.Params = url.Values{"created_after": {cur.Watermark.Add(-day).Format(repairops.DateFormat)}}
		newest := cur.Watermark
		return x.c.List(ctx, res, func(p repairops.Page) error {
			newest = newestOf(p, newest)
			next := ""
			if p.Last {
				next = roCursor{Pass: "complete", Watermark: newest, LastFull: cur.LastFull, RunID: x.runID}.String()
			}
			return x.emit(ctx, r, p, "", next)
		})
	}
	start := 0
	if cur.Pass == "in_progress" {
		start = max(cur.Next-resumeOverlap, 0)
	} else {
		cur = roCursor{Pass: "in_progress", PassStarted: now, Watermark: cur.Watermark}
	}
	return x.c.ListFrom(ctx, r.res, start, func(p repairops.Page) error {
		cur.PassMax = newestOf(p, cur.PassMax)
		next := roCursor{Pass: "in_progress", Next: p.Next, PassStarted: cur.PassStarted, PassMax: cur.PassMax, Watermark: cur.Watermark, RunID: x.runID}
		if p.Last {
			next = roCursor{Pass: "complete", Watermark: latestOf(cur.PassMax, cur.Watermark), LastFull: now, RunID: x.runID}
		}
		return x.emit(ctx, r, p, "", next.String())
	})
}

// kpis asks each shop's KPIs in windows of about a month, from the last
// day stored less the re-read window (late corrections overwrite), or on
// the first run from start_date. A window the API refuses with a 400
// about its dates is asked again in halves; one that still fails is logged
// and left for the next run (its shop's cursor stays before it), and the
// others go on — unless the refusal is about something else (an unknown
// shop, a parameter) or maxFailureStreak windows fail in a row: then the
// shop's later windows wait for the next run rather than fail alike.
func (x *roRun) kpis(ctx context.Context, r roRes) error {
	today := x.clock.Now().UTC().Truncate(day)
	first := today.AddDate(-defaultKPIYears, 0, 0)
	if x.a.StartDate != "" {
		first, _ = time.Parse(repairops.DateFormat, x.a.StartDate) // checked with the config
	}
	reread := orDefault(x.a.KPIRereadDays, defaultKPIRereadDays)
	for _, shop := range x.kpiShops() {
		label := shop
		if label == "" {
			label = allShops
		}
		key := "kpis/" + label
		var kc kpiCursor
		json.Unmarshal([]byte(x.st.cursors[key]), &kc)
		from := first
		if t, err := time.Parse(repairops.DateFormat, kc.Through); err == nil {
			from = t.AddDate(0, 0, -reread)
		}
		ok := true
		x.kpiRefused, x.kpiFails = false, 0
		for ws := from; !ws.After(today); {
			we := ws.AddDate(0, 1, -1)
			if we.After(today) {
				we = today
			}
			if err := x.kpiWindow(ctx, r, shop, key, ws, we, &ok); err != nil {
				return err
			}
			ws = we.AddDate(0, 0, 1)
			if x.kpiRefused && !ws.After(today) {
				// Refused for another reason than its dates, or failing
				// again and again: the next windows would fare alike.
				x.kpiGaps = append(x.kpiGaps, fmt.Sprintf("%s %s..%s (not asked after those failures)", key, ws.Format(repairops.DateFormat), today.Format(repairops.DateFormat)))
				break
			}
		}
	}
	return nil
}

// kpiShops is who KPIs are asked for: the configured shops, else every
// shop the tickets name, else the organisation as a whole ("").
func (x *roRun) kpiShops() []string {
	if len(x.a.Shops) > 0 {
		return x.a.Shops
	}
	set := map[string]bool{}
	for _, s := range x.st.shops {
		set[s] = true
	}
	for s := range x.shops {
		set[s] = true
	}
	if len(set) == 0 {
		return []string{""}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// minKPISplit is the shortest window a refused KPI window is split to.
const minKPISplit = 7 * day

// kpiWindow asks one shop's KPIs from..to (inclusive). It returns only
// errors that end the account's run (quota, caps, key); a window that fails
// otherwise is logged and clears ok, so the shop's cursor stops before it.
func (x *roRun) kpiWindow(ctx context.Context, r roRes, shop, key string, from, to time.Time, ok *bool) error {
	res := r.res
	res.Params = url.Values{"start_date": {from.Format(repairops.DateFormat)}, "end_date": {to.Format(repairops.DateFormat)}}
	if shop != "" {
		res.Params.Set("shop_id", shop)
	}
	err := x.c.List(ctx, res, func(p repairops.Page) error {
		cur := ""
		if *ok && p.Last { // a server that pages KPIs: the window is read at its last page
			cur = kpiCursor{Through: to.Format(repairops.DateFormat), RunID: x.runID}.String()
		}
		return x.emit(ctx, r, p, key, cur)
	})
	switch {
	case err == nil:
		x.kpiFails = 0
		return nil
	case errors.Is(err, repairops.ErrQuota) || errors.Is(err, repairops.ErrRunBudget) || errors.Is(err, repairops.ErrAuth) || ctx.Err() != nil:
		return err
	case rangeRefusal(err) && to.Sub(from) >= minKPISplit:
		mid := from.Add(to.Sub(from) / 2).Truncate(day)
		x.log.Warn("the API refused a KPI window; asking for it in halves", "shop", key, "from", from.Format(repairops.DateFormat), "to", to.Format(repairops.DateFormat), "error", err)
		if err := x.kpiWindow(ctx, r, shop, key, from, mid, ok); err != nil {
			return err
		}
		return x.kpiWindow(ctx, r, shop, key, mid.Add(day), to, ok)
	}
	*ok = false
	x.kpiFails++
	x.kpiRefused = !rangeRefusal(err) && (repairops.IsInvalidRequest(err) || repairops.IsNotFound(err)) || x.kpiFails >= maxFailureStreak
	gap := fmt.Sprintf("%s %s..%s", key, from.Format(repairops.DateFormat), to.Format(repairops.DateFormat))
	x.kpiGaps = append(x.kpiGaps, gap)
	x.log.Error("KPI window failed; the other windows go on and the next run asks for it again", "window", gap, "error", err)
	return nil
}

// rangeRefusal says whether an error is a 400 about the dates asked (a
// window longer than the API serves, say), which is worth asking again in
// halves, rather than about anything else (an unknown shop, a parameter
// this deployment does not take), which halves would only repeat.
func rangeRefusal(err error) bool {
	var ae *repairops.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		return false
	}
	text := strings.ToLower(ae.Message + " " + string(ae.Details))
	for _, w := range []string{"date", "range", "day", "window", "period"} {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

func latestOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
