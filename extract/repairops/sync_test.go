package repairops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/extracttest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/extract/rest"
)

// session opens a session on the simulator's first organisation with the
// given options, in simulated time.
func testSession(t *testing.T, srv *repairopstest.Server, clk budget.Clock, o Options, resources ...string) extract.Session {
	t.Helper()
	a := extract.Account{Name: srv.Orgs[0].Name, Source: "repairops", BaseURL: srv.URL, Resources: resources, Options: &o}
	s, err := Source.Open(extract.Env{Account: a, RunID: "r1", Key: srv.Orgs[0].Key, Clock: clk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func requests(srv *repairopstest.Server, path string) []repairopstest.Request {
	var out []repairopstest.Request
	for _, r := range srv.Log() {
		if r.Path == "/v1"+path {
			out = append(out, r)
		}
	}
	return out
}

// On the documented API (no shop on a ticket, sort by created_at only) a
// first run lists inventory, tickets, customers and KPIs in that order:
// tickets in the API's order to the end after the sort is refused, KPIs
// for the organisation as a whole, a month at a time from two years back.
func TestFirstRunOnTheDocumentedAPI(t *testing.T) {
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(120))
	defer srv.Close()
	rec, err := extracttest.Run(context.Background(), testSession(t, srv, clk, Options{PageSize: 50}), extracttest.Stored{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"listing inventory", "listing tickets", "listing customers", "listing kpis"}; !slices.Equal(rec.Tasks, want) {
		t.Errorf("tasks %v, want %v", rec.Tasks, want)
	}
	lists := requests(srv, "/tickets")
	if len(lists) != 4 || lists[0].Status != 400 || !strings.Contains(lists[0].Query, "sort=-updated_at") || strings.Contains(lists[1].Query, "sort") {
		t.Errorf("ticket requests %+v; want the sort refused, then three pages without it", lists)
	}
	cur := ParseCursor(rec.Cursors()["tickets"])
	newest := time.Time{}
	for _, r := range rec.Of("tickets") {
		for _, l := range Listing(Tickets, mustRecords(t, r.Entry)) {
			newest = latestOf(newest, l.Created)
		}
	}
	if cur.Pass != "complete" || !cur.Watermark.Equal(newest) || newest.IsZero() {
		t.Errorf("tickets cursor %+v; want complete at the newest update %v", cur, newest)
	}
	today := clk.Now().UTC().Truncate(day)
	kpis := rec.Of("kpis")
	if want := months(today.AddDate(-defaultKPIYears, 0, 0), today); int64(len(kpis)) != want {
		t.Errorf("%d KPI windows, want %d (a month each, two years)", len(kpis), want)
	}
	for _, r := range kpis {
		if r.Entry.Params.Has("shop_id") || r.CursorKey != "kpis/"+AllShops {
			t.Fatalf("KPI window %v under %q; want the organisation's", r.Entry.Params, r.CursorKey)
		}
	}
	if c := rec.Cursors()["kpis/all"]; !strings.Contains(c, `"through":"`+today.Format(DateFormat)+`"`) {
		t.Errorf("KPI cursor %s, want through today", c)
	}
}

func mustRecords(t *testing.T, e archive.Entry) []byte {
	t.Helper()
	recs, err := Records(e.Body, e.Kind == archive.KindDetail, e.Dropped)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Once a full pass is complete, a deployment that sorts by -updated_at is
// read only down to the watermark less the lookback: one page here, and the
// watermark moves to the newest change.
func TestIncrementalTicketsStopAtTheWatermark(t *testing.T) {
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(200), repairopstest.WithSortable("created_at", "updated_at"))
	defer srv.Close()
	first, err := extracttest.Run(context.Background(), testSession(t, srv, clk, Options{PageSize: 50}, "tickets"), extracttest.Stored{})
	if err != nil {
		t.Fatal(err)
	}
	st := extracttest.Stored{}.After(first)
	clk.Advance(24 * time.Hour)
	changed, err := srv.ChangeTickets("metro", 3, clk.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	before := len(srv.Log())
	next, err := extracttest.Run(context.Background(), testSession(t, srv, clk, Options{PageSize: 50}, "tickets"), st)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Log()) - before; n != 1 {
		t.Errorf("incremental listing took %d pages, want 1", n)
	}
	var seen []string
	for _, l := range Listing(Tickets, mustRecords(t, next.Responses[0].Entry)) {
		seen = append(seen, l.ID)
	}
	for _, id := range changed {
		if !slices.Contains(seen, id) {
			t.Errorf("changed ticket %s not on the first page", id)
		}
	}
	if w := ParseCursor(next.Cursors()["tickets"]).Watermark; !w.After(ParseCursor(st.Cursor("tickets")).Watermark) {
		t.Errorf("watermark %v did not move on", w)
	}
}

// KPIs go per shop when the tickets name their shops (this run's, or those
// stored); a window refused for its dates is asked again in halves.
func TestKPIsPerShopAndRefusedWindowsHalved(t *testing.T) {
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(90), repairopstest.WithShopIDs())
	defer srv.Close()
	o := Options{StartDate: "2026-09-01"}
	rec, err := extracttest.Run(context.Background(), testSession(t, srv, clk, o, "tickets", "kpis"), extracttest.Stored{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range rec.Cursors() {
		if strings.HasPrefix(k, "kpis/") {
			keys = append(keys, strings.TrimPrefix(k, "kpis/"))
		}
	}
	var shops []string
	for _, sh := range srv.Orgs[0].Shops {
		shops = append(shops, sh.ID)
	}
	slices.Sort(keys)
	slices.Sort(shops)
	if !slices.Equal(keys, shops) {
		t.Errorf("KPI cursors for %v, want the shops %v", keys, shops)
	}
	// KPIs alone, with one shop stored: that shop's windows only, the first
	// refused and halved.
	srv.Inject(repairopstest.Fault{BadKPIWindows: 1})
	st := extracttest.Stored{Columns: map[string][]string{"repairops.tickets.shop_id": {shops[0]}}}
	before := len(srv.Log())
	rec, err = extracttest.Run(context.Background(), testSession(t, srv, clk, o, "kpis"), st)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	for _, r := range srv.Log()[before:] {
		if !strings.Contains(r.Query, "shop_id="+shops[0]) {
			t.Errorf("KPIs asked for another shop: %s", r.Query)
		}
		asked = append(asked, fmt.Sprint(r.Status))
	}
	today := clk.Now().UTC().Truncate(day)
	if want := int(months(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), today)) + 2; len(asked) != want || asked[0] != "400" {
		t.Errorf("KPI requests %v; want a refusal then %d windows (the first in halves)", asked, want-1)
	}
	if c := rec.Cursors()["kpis/"+shops[0]]; !strings.Contains(c, today.Format(DateFormat)) {
		t.Errorf("cursor %s, want through today", c)
	}
}

func TestVerdicts(t *testing.T) {
	s := &session{}
	api := func(status int) error { return &APIError{Method: "GET", Path: "/x", Status: status} }
	for _, tt := range []struct {
		name string
		err  error
		want extract.Verdict
	}{
		{"a 404 is a record gone", fmt.Errorf("get: %w", api(404)), extract.Gone},
		{"a 400 fails its part", api(400), extract.Skip},
		{"a 5xx after the retries fails its part", fmt.Errorf("giving up: %w", api(500)), extract.Skip},
		{"the quota is partial", fmt.Errorf("%w until 11:00", ErrQuota), extract.Partial},
		{"the run's cap is partial", fmt.Errorf("list: %w", rest.ErrRunBudget), extract.Partial},
		{"a bad key or scope stops", fmt.Errorf("%w: %w", ErrAuth, api(403)), extract.Stop},
		{"anything else fails its part", errors.New("response is not the list envelope"), extract.Skip},
	} {
		if got := s.Verdict(tt.err); got != tt.want {
			t.Errorf("%s: verdict %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name    string
		entry   archive.Entry
		shop    string
		partial bool
		listed  int
		fetched string
	}{
		{"a KPI page takes the shop it was asked for", archive.Entry{Resource: "kpis", Kind: archive.KindList, Params: map[string][]string{"shop_id": {"s1"}},
			Body: []byte(`{"data":[{"date":"2026-01-01"}],"summary":{}}`)}, "s1", false, 0, ""},
		{"the organisation's KPIs are all", archive.Entry{Resource: "kpis", Kind: archive.KindList, Body: []byte(`{"data":[]}`)}, AllShops, false, 0, ""},
		{"a ticket page is partial and listed", archive.Entry{Resource: "tickets", Kind: archive.KindList, Dropped: []int{0},
			Body: []byte(`{"data":[{"id":"a"},{"id":"b","updated_at":"2026-01-02T00:00:00Z"}],"pagination":{"offset":0,"limit":50,"total":2}}`)}, "", true, 1, ""},
		{"a ticket detail is partial and fetched", archive.Entry{Resource: "tickets", Kind: archive.KindDetail, Body: []byte(`{"id":"c","timeline":[]}`)}, "", true, 0, "c"},
		{"inventory replaces whole", archive.Entry{Resource: "inventory", Kind: archive.KindList, Body: []byte(`{"data":[{"id":"i"}]}`)}, "", false, 0, ""},
	} {
		d, err := decode(tt.entry)
		if err != nil || d.Table == nil || d.Fixed["shop_id"] != tt.shop || d.Partial != tt.partial || len(d.Listed) != tt.listed || d.Fetched != tt.fetched {
			t.Errorf("%s: %+v, %v", tt.name, d, err)
		}
	}
	if _, err := decode(archive.Entry{Resource: "tickets", Kind: archive.KindList, Body: []byte(`{"data":{}}`)}); err == nil {
		t.Error("a list whose data is not an array decoded")
	}
}
