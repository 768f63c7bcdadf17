package repairops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/listing"
)

// session is one account's run: inventory, the ticket and customer
// listings (incremental once a full pass is done), KPIs by window; the
// driver then fetches the details the listings found due, for as long as
// the hour's quota (less its reserve) and the run's caps allow.
type session struct {
	c   *Client
	env extract.Env
	o   Options
	res []extract.Resource
	st  extract.Stored
	// stored are the shops the stored tickets name; shops those the
	// tickets listed in this run name.
	stored []string
	shops  map[string]bool
	// kpiGaps are the KPI windows that failed and are asked again next run.
	kpiGaps []string
	// kpiRefused: the shop's last KPI window was refused for another
	// reason than its dates, or its last maxKPIFailures windows failed;
	// its later windows are not asked this run. kpiFails counts the
	// failures in a row.
	kpiRefused bool
	kpiFails   int
	// unsorted: the API refused sort=-updated_at, so ticket listings come
	// in its own order and are read to the end.
	unsorted bool
}

// Cursor is the committed position of a ticket or customer listing.
type Cursor struct {
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

func (c Cursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// ParseCursor reads a committed cursor; a garbled one starts over (a full
// pass).
func ParseCursor(v string) Cursor {
	var c Cursor
	if v != "" {
		json.Unmarshal([]byte(v), &c)
	}
	return c
}

// KPICursor is the last day of a shop's KPIs loaded without a gap.
type KPICursor struct {
	Through string `json:"through"`
	RunID   string `json:"run_id"`
}

func (c KPICursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// AllShops is the shop_id of KPI rows asked for the organisation as a whole.
const AllShops = "all"

// resumeOverlap is how many records before its committed position an
// unfinished pass resumes (records deleted meanwhile shift the rest up).
const resumeOverlap = 10

const day = 24 * time.Hour

// maxKPIFailures is how many KPI windows of a shop may fail in a row before
// its later windows wait for the next run.
const maxKPIFailures = 3

// Tasks lists inventory, tickets, customers and KPIs, in that order: the
// tickets name the shops KPIs are asked for.
func (s *session) Tasks(ctx context.Context, st extract.Stored) ([]extract.Task, error) {
	s.st = st
	var err error
	if s.stored, err = st.Values(ctx, TicketsTable, "shop_id"); err != nil {
		return nil, fmt.Errorf("read the shops of %s: %w", s.env.Account.Name, err)
	}
	var tasks []extract.Task
	for _, r := range s.res {
		var run func(context.Context, extract.Emitter) error
		switch r.Name {
		case Inventory.Name:
			run = s.inventory
		case Tickets.Name:
			run = s.tickets
		case Customers.Name:
			run = s.customers
		case KPIs.Name:
			run = s.kpis
		default:
			continue
		}
		tasks = append(tasks, extract.Task{Name: "listing " + r.Name, Resource: r.Name, Run: run})
	}
	return tasks, nil
}

// emit sends a list page with the cursor that follows it, noting which
// shops the tickets name. complete marks the last page of a listing that
// read every record of the resource, from its first page, unfiltered.
func (s *session) emit(ctx context.Context, emit extract.Emitter, p Page, cursorKey, cursor string, complete bool) error {
	if p.Resource == Tickets.Name {
		var recs []map[string]any
		json.Unmarshal(p.Records, &recs)
		for _, rec := range recs {
			if id, ok := rec["shop_id"].(string); ok && id != "" {
				s.shops[id] = true
			}
		}
	}
	e := p.ListEntry()
	e.Complete = complete && p.Last
	return emit.Emit(ctx, extract.Response{Entry: e, Cursor: cursor, CursorKey: cursorKey, Next: p.Next})
}

// inventory is listed in full every run.
func (s *session) inventory(ctx context.Context, emit extract.Emitter) error {
	return s.c.List(ctx, Inventory, func(p Page) error {
		cur := ""
		if p.Last {
			cur = Cursor{Pass: "complete", RunID: s.env.RunID}.String()
		}
		return s.emit(ctx, emit, p, "", cur, true)
	})
}

// tickets lists tickets newest change first. Once a full pass is complete,
// a run reads only down to the watermark less the lookback, but every
// ticket_full_pass_days reads everything again (what it no longer returns
// was deleted); a first (or unfinished) pass reads everything, resuming
// where it stopped after reading what changed since it began.
func (s *session) tickets(ctx context.Context, emit extract.Emitter) error {
	cur := ParseCursor(s.st.Cursor(Tickets.Name))
	lookback := time.Duration(orDefault(s.o.LookbackDays, defaultLookbackDays)) * day
	every := time.Duration(orDefault(s.o.TicketFullPassDays, defaultTicketFullDays)) * day
	now := s.env.Clock.Now()
	res := Tickets
	res.Params = url.Values{"sort": {"-updated_at"}}
	if cur.Pass == "complete" && !cur.Watermark.IsZero() && now.Sub(cur.LastFull) < every {
		newest, err := s.head(ctx, emit, res, cur.Watermark.Add(-lookback), func(newest time.Time) string {
			return Cursor{Pass: "complete", Watermark: latestOf(cur.Watermark, newest), LastFull: cur.LastFull, RunID: s.env.RunID}.String()
		}, true)
		if err == nil {
			s.env.Log.Info("tickets listed since the watermark", "watermark", cur.Watermark.Format(time.RFC3339), "newest", newest.Format(time.RFC3339))
		}
		return err
	}
	start := 0
	if cur.Pass == "in_progress" && !cur.PassStarted.IsZero() {
		// Tickets changed since the pass began moved to the head, ahead
		// of where it stopped: read them first. The unfinished pass keeps
		// its cursor until its own pages move it on.
		keep := cur.String()
		newest, err := s.head(ctx, emit, res, cur.PassStarted.Add(-lookback), func(time.Time) string { return keep }, false)
		if err != nil {
			return err
		}
		cur.PassMax = latestOf(cur.PassMax, newest)
		start = max(cur.Next-resumeOverlap, 0)
		s.env.Log.Info("resuming an unfinished ticket pass", "offset", start)
	} else {
		cur = Cursor{Pass: "in_progress", PassStarted: now, Watermark: cur.Watermark}
	}
	return s.sortedList(ctx, res, start, func(p Page) error {
		for _, l := range Listing(Tickets, p.Records) {
			cur.PassMax = latestOf(cur.PassMax, l.Created)
		}
		next := Cursor{Pass: "in_progress", Next: p.Next, PassStarted: cur.PassStarted, PassMax: cur.PassMax, Watermark: cur.Watermark, RunID: s.env.RunID}
		if p.Last {
			next = Cursor{Pass: "complete", Watermark: latestOf(cur.PassMax, cur.Watermark), LastFull: cur.PassStarted, RunID: s.env.RunID}
		}
		// A pass resumed in this run did not see what it read before.
		return s.emit(ctx, emit, p, "", next.String(), start == 0)
	})
}

// head lists a resource sorted newest change first until a page reaches
// records older than stopAt, and returns the newest time seen. If the API
// turns out not to honour the sort, it reads to the end instead: stopping
// early is only safe on a sorted listing. cursor gives the cursor of the
// listing's last page; complete says a listing read to the end is
// complete (not when it reads ahead of an unfinished pass).
func (s *session) head(ctx context.Context, emit extract.Emitter, res Resource, stopAt time.Time, cursor func(newest time.Time) string, whole bool) (time.Time, error) {
	var newest, prev time.Time
	sorted := true
	err := s.sortedList(ctx, res, 0, func(p Page) error {
		var oldest time.Time
		for _, l := range Listing(Tickets, p.Records) {
			if l.Created.IsZero() {
				continue
			}
			if !prev.IsZero() && l.Created.After(prev) && sorted {
				sorted = false
				s.env.Log.Warn("the API did not sort the listing by -updated_at; reading it to the end", "resource", res.Name, "offset", p.Params.Get("offset"))
			}
			prev, oldest = l.Created, l.Created
			newest = latestOf(newest, l.Created)
		}
		last := p.Last || (sorted && !s.unsorted && !oldest.IsZero() && oldest.Before(stopAt))
		cur := ""
		if last {
			cur = cursor(newest)
		}
		if err := s.emit(ctx, emit, p, "", cur, whole); err != nil { // complete only at the true end (p.Last)
			return err
		}
		if last {
			return StopListing
		}
		return nil
	})
	return newest, err
}

// sortedList lists res from start with its sort. Should the API refuse
// the sort (400 before any page: the docs show only sort=-created_at), it
// lists again without it and sets s.unsorted, so that head reads to the
// end: a night then costs the whole list, but misses nothing.
func (s *session) sortedList(ctx context.Context, res Resource, start int, fn func(Page) error) error {
	if !s.unsorted {
		delivered := false
		err := s.c.ListFrom(ctx, res, start, func(p Page) error { delivered = true; return fn(p) })
		if err == nil || delivered || !IsInvalidRequest(err) || res.Params.Get("sort") == "" {
			return err
		}
		s.unsorted = true
		s.env.Log.Warn("the API refused the sort; listing in its own order, to the end", "resource", res.Name, "sort", res.Params.Get("sort"), "error", err)
	}
	res.Params = maps.Clone(res.Params)
	res.Params.Del("sort")
	return s.c.ListFrom(ctx, res, start, fn)
}

// customers lists customers: in full on the first run and every
// customer_full_pass_days (lifetime figures of old customers change), else
// only those created since the watermark (less a day: the filter is by
// date).
func (s *session) customers(ctx context.Context, emit extract.Emitter) error {
	cur := ParseCursor(s.st.Cursor(Customers.Name))
	every := time.Duration(orDefault(s.o.CustomerFullPassDays, defaultCustomerFullDays)) * day
	now := s.env.Clock.Now()
	created := []string{"created_at", "createdAt"}
	newestOf := func(p Page, t time.Time) time.Time {
		for _, l := range listing.Summarise(p.Records, nil, created) {
			t = latestOf(t, l.Created)
		}
		return t
	}
	if cur.Pass == "complete" && !cur.LastFull.IsZero() && now.Sub(cur.LastFull) < every && !cur.Watermark.IsZero() {
		res := Customers
		res.Params = url.Values{"created_after": {cur.Watermark.Add(-day).Format(DateFormat)}}
		newest := cur.Watermark
		return s.c.List(ctx, res, func(p Page) error {
			newest = newestOf(p, newest)
			next := ""
			if p.Last {
				next = Cursor{Pass: "complete", Watermark: newest, LastFull: cur.LastFull, RunID: s.env.RunID}.String()
			}
			return s.emit(ctx, emit, p, "", next, false)
		})
	}
	start := 0
	if cur.Pass == "in_progress" {
		start = max(cur.Next-resumeOverlap, 0)
	} else {
		cur = Cursor{Pass: "in_progress", PassStarted: now, Watermark: cur.Watermark}
	}
	return s.c.ListFrom(ctx, Customers, start, func(p Page) error {
		cur.PassMax = newestOf(p, cur.PassMax)
		next := Cursor{Pass: "in_progress", Next: p.Next, PassStarted: cur.PassStarted, PassMax: cur.PassMax, Watermark: cur.Watermark, RunID: s.env.RunID}
		if p.Last {
			next = Cursor{Pass: "complete", Watermark: latestOf(cur.PassMax, cur.Watermark), LastFull: now, RunID: s.env.RunID}
		}
		return s.emit(ctx, emit, p, "", next.String(), start == 0)
	})
}

// firstKPIDay is where a shop's KPI history starts on the first run:
// start_date, or two years back.
func (o Options) firstKPIDay(today time.Time) time.Time {
	if o.StartDate != "" {
		if t, err := time.Parse(DateFormat, o.StartDate); err == nil { // checked with the config
			return t
		}
	}
	return today.AddDate(-defaultKPIYears, 0, 0)
}

// kpiFrom is where a shop's KPI windows start this run: the last day stored
// less the re-read window (late corrections overwrite), or first.
func (o Options) kpiFrom(cursor string, first time.Time) time.Time {
	var kc KPICursor
	json.Unmarshal([]byte(cursor), &kc)
	if t, err := time.Parse(DateFormat, kc.Through); err == nil {
		return t.AddDate(0, 0, -orDefault(o.KPIRereadDays, defaultKPIRereadDays))
	}
	return first
}

// kpis asks each shop's KPIs in windows of about a month, from the last
// day stored less the re-read window, or on the first run from start_date.
// A window the API refuses with a 400 about its dates is asked again in
// halves; one that still fails is logged and left for the next run (its
// shop's cursor stays before it), and the others go on — unless the
// refusal is about something else (an unknown shop, a parameter) or
// maxKPIFailures windows fail in a row: then the shop's later windows wait
// for the next run rather than fail alike.
func (s *session) kpis(ctx context.Context, emit extract.Emitter) error {
	today := s.env.Clock.Now().UTC().Truncate(day)
	first := s.o.firstKPIDay(today)
	for _, shop := range s.kpiShops() {
		label := shop
		if label == "" {
			label = AllShops
		}
		key := "kpis/" + label
		from := s.o.kpiFrom(s.st.Cursor(key), first)
		ok := true
		s.kpiRefused, s.kpiFails = false, 0
		for ws := from; !ws.After(today); {
			we := ws.AddDate(0, 1, -1)
			if we.After(today) {
				we = today
			}
			if err := s.kpiWindow(ctx, emit, shop, key, ws, we, &ok); err != nil {
				return err
			}
			ws = we.AddDate(0, 0, 1)
			if s.kpiRefused && !ws.After(today) {
				// Refused for another reason than its dates, or failing
				// again and again: the next windows would fare alike.
				s.kpiGaps = append(s.kpiGaps, fmt.Sprintf("%s %s..%s (not asked after those failures)", key, ws.Format(DateFormat), today.Format(DateFormat)))
				break
			}
		}
	}
	return nil
}

// kpiShops is who KPIs are asked for: the configured shops, else every
// shop the tickets name, else the organisation as a whole (""). The
// documented ticket list names no shop, so the organisation as a whole is
// the usual case.
func (s *session) kpiShops() []string {
	if len(s.o.Shops) > 0 {
		return s.o.Shops
	}
	set := map[string]bool{}
	for _, id := range s.stored {
		set[id] = true
	}
	for id := range s.shops {
		set[id] = true
	}
	if len(set) == 0 {
		return []string{""}
	}
	return slices.Sorted(maps.Keys(set))
}

// minKPISplit is the shortest window a refused KPI window is split to.
const minKPISplit = 7 * day

// kpiWindow asks one shop's KPIs from..to (inclusive). It returns only
// errors that end the account's run (quota, caps, key); a window that fails
// otherwise is logged and clears ok, so the shop's cursor stops before it.
func (s *session) kpiWindow(ctx context.Context, emit extract.Emitter, shop, key string, from, to time.Time, ok *bool) error {
	res := KPIs
	res.Params = url.Values{"start_date": {from.Format(DateFormat)}, "end_date": {to.Format(DateFormat)}}
	if shop != "" {
		res.Params.Set("shop_id", shop)
	}
	err := s.c.List(ctx, res, func(p Page) error {
		cur := ""
		if *ok && p.Last { // a server that pages KPIs: the window is read at its last page
			cur = KPICursor{Through: to.Format(DateFormat), RunID: s.env.RunID}.String()
		}
		return s.emit(ctx, emit, p, key, cur, false)
	})
	switch v := s.Verdict(err); {
	case err == nil:
		s.kpiFails = 0
		return nil
	case v == extract.Partial || v == extract.Stop || ctx.Err() != nil:
		return err
	case rangeRefusal(err) && to.Sub(from) >= minKPISplit:
		mid := from.Add(to.Sub(from) / 2).Truncate(day)
		s.env.Log.Warn("the API refused a KPI window; asking for it in halves", "shop", key, "from", from.Format(DateFormat), "to", to.Format(DateFormat), "error", err)
		if err := s.kpiWindow(ctx, emit, shop, key, from, mid, ok); err != nil {
			return err
		}
		return s.kpiWindow(ctx, emit, shop, key, mid.Add(day), to, ok)
	}
	*ok = false
	s.kpiFails++
	s.kpiRefused = !rangeRefusal(err) && (IsInvalidRequest(err) || IsNotFound(err)) || s.kpiFails >= maxKPIFailures
	gap := fmt.Sprintf("%s %s..%s", key, from.Format(DateFormat), to.Format(DateFormat))
	s.kpiGaps = append(s.kpiGaps, gap)
	s.env.Log.Error("KPI window failed; the other windows go on and the next run asks for it again", "window", gap, "error", err)
	return nil
}

// rangeRefusal says whether an error is a 400 about the dates asked (a
// window longer than the API serves, say), which is worth asking again in
// halves, rather than about anything else (an unknown shop, a parameter
// this deployment does not take), which halves would only repeat.
func rangeRefusal(err error) bool {
	var ae *APIError
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

func (s *session) Detail(ctx context.Context, resource, id string) (Page, error) {
	return s.c.Get(ctx, resource, id)
}

// Verdict: the key, the quota and the run's caps stop the account; a 404
// is a record gone (or an endpoint the deployment lacks); anything else —
// a 400, a 5xx that outlasted the retries — fails only its part.
func (s *session) Verdict(err error) extract.Verdict {
	switch {
	case errors.Is(err, ErrQuota) || errors.Is(err, ErrRunBudget):
		return extract.Partial
	case errors.Is(err, ErrAuth):
		return extract.Stop
	case IsNotFound(err):
		return extract.Gone
	}
	return extract.Skip
}

func (s *session) Requests() int64         { return s.c.Requests() }
func (s *session) CoolingUntil() time.Time { return s.c.CoolingUntil() }

func (s *session) Gaps() string {
	if len(s.kpiGaps) == 0 {
		return ""
	}
	return fmt.Sprintf("%d KPI window(s) failed (logged above); the next run asks for them again: %s", len(s.kpiGaps), strings.Join(s.kpiGaps, ", "))
}
