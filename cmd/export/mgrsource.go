package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// mgrRes is an MGR resource with the table it loads and the values of the
// table's FromRequest columns.
type mgrRes struct {
	res   mgr.Resource
	table *schema.Table
	fixed map[string]string
}

// mgrResource maps a resource name ("customFields/tickets") to its table.
func mgrResource(name string) (mgrRes, bool) {
	res, ok := mgr.Lookup(name)
	if !ok {
		return mgrRes{}, false
	}
	base, typ, _ := strings.Cut(name, "/")
	for _, t := range schema.All {
		if t.Source == "mgr" && !t.IsChild() && t.Resource == base {
			r := mgrRes{res: res, table: t}
			if typ != "" {
				r.fixed = map[string]string{"type": typ}
			}
			return r, true
		}
	}
	return mgrRes{}, false
}

func mgrResourceNames() []string {
	out := make([]string, len(mgr.All))
	for i, r := range mgr.All {
		out[i] = r.Name
	}
	return out
}

// accountResources is what an account exports, in budget order.
func accountResources(a Account) []mgrRes {
	want := map[string]bool{}
	for _, r := range a.Resources {
		want[r] = true
	}
	var out []mgrRes
	for _, r := range mgr.All {
		if len(want) > 0 && !want[r.Name] {
			continue
		}
		if mr, ok := mgrResource(r.Name); ok {
			out = append(out, mr)
		}
	}
	return out
}

// stageEntry transforms one archived response and stages it, with its
// detail-queue notes: the one path from a fetched page to the warehouse,
// shared by `export run` and `export rebuild` so that a rebuild is the run
// replayed. A list page of a resource with a detail is staged partially
// (it must not erase the detail's columns) and noted as listed; a detail
// is staged whole and noted as fetched for its fingerprint.
func stageEntry(ctx context.Context, w *load.Warehouse, e archive.Entry, chosen func(*schema.Table) bool) (bool, error) {
	switch e.Source {
	case "mgr":
		return stageMGR(ctx, w, e, chosen)
	case "repairops":
		return stageRepairOps(ctx, w, e, chosen)
	}
	return false, nil
}

// hasTable reports whether an archived response loads a table.
func hasTable(e archive.Entry) bool {
	switch e.Source {
	case "mgr":
		_, ok := mgrResource(e.Resource)
		return ok
	case "repairops":
		_, ok := roResource(e.Resource)
		return ok
	}
	return false
}

func stageMGR(ctx context.Context, w *load.Warehouse, e archive.Entry, chosen func(*schema.Table) bool) (bool, error) {
	r, ok := mgrResource(e.Resource)
	if !ok || (chosen != nil && !chosen(r.table)) {
		return false, nil
	}
	recs, err := e.Records()
	if err != nil {
		return false, err
	}
	b, err := transform.Page(r.table, recs, transform.Meta{Account: e.Account, RunID: e.RunID, ExtractedAt: e.FetchedAt, Fixed: r.fixed}, nil)
	if err != nil {
		return false, fmt.Errorf("%s page %d: %w", e.Resource, e.Seq, err)
	}
	defer b.Release()
	switch {
	case r.res.Detail && e.Kind == archive.KindList:
		err = w.StagePartial(ctx, e.Account, b)
		w.NoteListed(e.Account, e.Resource, toLoad(mgr.Listing(r.res, recs)))
	case r.res.Detail && e.Kind == archive.KindDetail:
		err = w.Stage(ctx, e.Account, b)
		if id := detailID(recs); id != "" {
			w.NoteFetched(e.Account, e.Resource, id, e.Fingerprint, load.DetailOK, e.FetchedAt)
		}
	default:
		err = w.Stage(ctx, e.Account, b)
	}
	return true, err
}

func detailID(recs []byte) string {
	l := mgr.Listing(mgr.Resource{}, recs)
	if len(l) != 1 {
		return ""
	}
	return l[0].ID
}

func toLoad(ls []mgr.Listed) []load.Listed {
	out := make([]load.Listed, len(ls))
	for i, l := range ls {
		out[i] = load.Listed{ID: l.ID, Fingerprint: l.Fingerprint, Created: l.Created}
	}
	return out
}

// recentWindow is how new a never-fetched record must be for its detail to
// come before the backfill of older ones.
const recentWindow = 30 * 24 * time.Hour

// prioritise orders due details: changed records and recent new ones
// first, then the backfill; newest first within each.
func prioritise(due []load.Due, now time.Time) {
	prioritiseBy(due, func(d load.Due) load.Due { return d }, now)
}

// prioritiseBy is prioritise for items that carry a Due.
func prioritiseBy[T any](items []T, due func(T) load.Due, now time.Time) {
	class := func(d load.Due) int {
		if d.Changed || now.Sub(d.Created) < recentWindow {
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

// mgrClient is the account's client as its config sets it up: base URL,
// rate, the key's shared ledger; more adds to it.
func mgrClient(a Account, key string, ledger *budget.Ledger, clock budget.Clock, log *slog.Logger, more ...mgr.Option) (*mgr.Client, error) {
	opts := []mgr.Option{mgr.WithClock(clock), mgr.WithLogger(log), mgr.WithLedger(ledger)}
	if a.BaseURL != "" {
		opts = append(opts, mgr.WithBaseURL(a.BaseURL))
	}
	if a.RequestsPerMinute > 0 {
		opts = append(opts, mgr.WithRateLimit(a.RequestsPerMinute, time.Minute, 0))
	}
	return mgr.NewClient(key, append(opts, more...)...)
}
