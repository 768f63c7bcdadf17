package mgr

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/repairshop/export/extract"
)

// session is one account's run: MGR has no "changed since" filter, so
// every run lists every resource (reference lists first), resuming a
// listing a previous run left unfinished; the driver then fetches the
// details the listings found due.
type session struct {
	c   *Client
	env extract.Env
	res []extract.Resource
}

// ListCursor is the committed position of an account's listing of a
// resource: a listing cut short (crash, budget) resumes where it stopped.
type ListCursor struct {
	Pass  string `json:"pass"` // "in_progress" | "complete"
	Next  int    `json:"next_offset,omitempty"`
	RunID string `json:"run_id"`
}

func (c ListCursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// ResumeOffset is where a listing starts: one page before the committed
// position of an unfinished pass (records may have shifted by a few), or 0.
func ResumeOffset(value string) int {
	var c ListCursor
	if value == "" || json.Unmarshal([]byte(value), &c) != nil || c.Pass != "in_progress" {
		return 0
	}
	return max(c.Next-PageSize, 0)
}

// RecentListing is how far back the recent-records listing of a resource
// with an unfinished pass reaches (a day more than a week: the filter is
// by the shop's calendar day, whose zone we do not know).
const RecentListing = 8 * 24 * time.Hour

// Tasks are the run's listings by priority: a long pass still under way
// (a backfill bigger than a night's budget) would keep the newest records
// waiting until it reaches them, so those are listed first with the
// createdDateFrom filter; then reference lists (cheap; everything refers
// to them), listings a previous run left unfinished (so a pass longer than
// one night's budget completes), and the rest.
func (s *session) Tasks(ctx context.Context, st extract.Stored) ([]extract.Task, error) {
	unfinished := map[string]bool{}
	starts := map[string]int{}
	for _, r := range s.res {
		v := st.Cursor(r.Name)
		var cur ListCursor
		if json.Unmarshal([]byte(v), &cur) == nil && cur.Pass == "in_progress" {
			unfinished[r.Name] = true
		}
		if off := ResumeOffset(v); off > 0 {
			starts[r.Name] = off
			s.env.Log.Info("resuming an unfinished listing", "resource", r.Name, "offset", off)
		}
	}
	order := listOrder(s.res, unfinished)
	var tasks []extract.Task
	for _, r := range order {
		res, _ := Lookup(r.Name)
		if !res.Dated || !unfinished[r.Name] {
			continue
		}
		recent := res
		recent.Params = url.Values{"createdDateFrom": {s.env.Clock.Now().Add(-RecentListing).Format(DateFormat)}}
		for k, v := range res.Params {
			recent.Params[k] = v
		}
		tasks = append(tasks, extract.Task{Name: "listing recent " + r.Name, Resource: r.Name, Run: func(ctx context.Context, emit extract.Emitter) error {
			return s.c.List(ctx, recent, func(p Page) error {
				return emit.Emit(ctx, extract.Response{Entry: p.ListEntry()})
			})
		}})
	}
	for _, r := range order {
		res, _ := Lookup(r.Name)
		start := starts[r.Name]
		tasks = append(tasks, extract.Task{Name: "listing " + r.Name, Resource: r.Name, Run: func(ctx context.Context, emit extract.Emitter) error {
			return s.c.ListFrom(ctx, res, start, func(p Page) error {
				cur := ListCursor{Pass: "in_progress", Next: p.Next, RunID: s.env.RunID}
				if p.Last {
					cur = ListCursor{Pass: "complete", RunID: s.env.RunID}
				}
				e := p.ListEntry()
				// Read from its first page in this run: what it did not
				// return is gone from the shop.
				e.Complete = p.Last && start == 0
				return emit.Emit(ctx, extract.Response{Entry: e, Cursor: cur.String(), Next: p.Next})
			})
		}})
	}
	return tasks, nil
}

// listOrder ranks reference lists first, then unfinished listings, then
// the rest, each group in All's order.
func listOrder(rs []extract.Resource, unfinished map[string]bool) []extract.Resource {
	rank := func(r extract.Resource) int {
		res, _ := Lookup(r.Name)
		switch {
		case res.Reference:
			return 0
		case unfinished[r.Name]:
			return 1
		}
		return 2
	}
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b extract.Resource) int { return rank(a) - rank(b) })
	return out
}

func (s *session) Detail(ctx context.Context, resource, id string) (Page, error) {
	return s.c.Get(ctx, resource, id)
}

// Verdict: the key, its rate or the run's budget stop the account. MGR's
// rate-limit error is undocumented in status and wording, so any refusal
// but a 404 may be one unrecognised: it stops the account rather than
// risk a second strike towards the block. A 404 is a record deleted since
// it was listed, or an endpoint the shop's plan lacks; anything else (a
// 5xx that outlasted the retries, an answer that is not JSON) fails only
// its part.
func (s *session) Verdict(err error) extract.Verdict {
	var ae *APIError
	switch {
	case errors.Is(err, ErrRunBudget) || errors.Is(err, ErrRateBudget):
		return extract.Partial
	case errors.Is(err, ErrAuth) || errors.Is(err, ErrBlocked):
		return extract.Stop
	case IsNotFound(err):
		return extract.Gone
	case errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusNotFound:
		return extract.Stop
	}
	return extract.Skip
}

func (s *session) Requests() int64         { return s.c.Requests() }
func (s *session) CoolingUntil() time.Time { return s.c.CoolingUntil() }
func (s *session) Gaps() string            { return "" }
