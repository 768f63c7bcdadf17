package mgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/extracttest"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/rest"
)

func TestResumeOffset(t *testing.T) {
	for _, tt := range []struct {
		cursor string
		want   int
	}{
		{"", 0},
		{ListCursor{Pass: "complete", RunID: "r"}.String(), 0},
		{ListCursor{Pass: "in_progress", Next: 500, RunID: "r"}.String(), 450},
		{ListCursor{Pass: "in_progress", Next: 50, RunID: "r"}.String(), 0},
		{"not json", 0},
	} {
		if got := ResumeOffset(tt.cursor); got != tt.want {
			t.Errorf("ResumeOffset(%s) = %d, want %d", tt.cursor, got, tt.want)
		}
	}
}

var syncStart = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)

// session opens a session on the simulator's first shop, limited to
// resources (none: all), in simulated time.
func testSession(t *testing.T, srv *mgrtest.Server, clk *budget.Fake, resources ...string) extract.Session {
	t.Helper()
	a := extract.Account{Name: srv.Shops[0].Name, Source: "mgr", BaseURL: srv.URL, Resources: resources}
	s, err := Source.Open(extract.Env{Account: a, RunID: "r2", Key: srv.Shops[0].Key, Clock: clk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A first run lists every resource once, in budget order (reference lists
// first), a request per page, and leaves every listing complete.
func TestFirstRunListsEverythingInBudgetOrder(t *testing.T) {
	clk := budget.NewFake(syncStart)
	srv := mgrtest.NewServer(mgrtest.WithClock(clk), mgrtest.WithTickets(130, 20))
	defer srv.Close()
	rec, err := extracttest.Run(context.Background(), testSession(t, srv, clk), extracttest.Stored{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range All {
		want = append(want, "listing "+r.Name)
	}
	if !slices.Equal(rec.Tasks, want) {
		t.Errorf("tasks %v\nwant %v", rec.Tasks, want)
	}
	sh := srv.Shops[0]
	requests := 0
	for _, r := range All {
		n := int64(sh.Count(r.Name))
		if got := len(rec.Of(r.Name)); int64(got) != ListRequests(n) {
			t.Errorf("%s: %d pages for %d records, want %d", r.Name, got, n, ListRequests(n))
		}
		requests += int(ListRequests(n))
		if cur := rec.Cursors()[r.Name]; cur != (ListCursor{Pass: "complete", RunID: "r2"}).String() {
			t.Errorf("%s: cursor %s, want complete", r.Name, cur)
		}
	}
	if len(srv.Log()) != requests {
		t.Errorf("%d requests, want a request per page (%d)", len(srv.Log()), requests)
	}
	var offsets []string
	for _, r := range rec.Of("tickets") {
		offsets = append(offsets, r.Entry.Params.Get("offset"))
		if r.Entry.Kind != archive.KindList || len(r.Entry.Body) == 0 {
			t.Errorf("ticket page %+v", r.Entry)
		}
	}
	if strings.Join(offsets, ",") != "0,48,96" {
		t.Errorf("ticket pages at offsets %v; want pages overlapping by %d", offsets, Overlap)
	}
}

// An unfinished pass resumes a page before where it stopped, after its
// newest records are listed by createdDateFrom, and before the other
// business lists; the reference lists still go first.
func TestUnfinishedPassResumesAfterTheNewest(t *testing.T) {
	clk := budget.NewFake(syncStart)
	srv := mgrtest.NewServer(mgrtest.WithClock(clk), mgrtest.WithTickets(300, 20))
	defer srv.Close()
	st := extracttest.Stored{Committed: map[string]string{"tickets": ListCursor{Pass: "in_progress", Next: 150, RunID: "r1"}.String()}}
	rec, err := extracttest.Run(context.Background(), testSession(t, srv, clk, "statuses", "customers", "tickets"), st)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"listing recent tickets", "listing statuses", "listing tickets", "listing customers"}; !slices.Equal(rec.Tasks, want) {
		t.Errorf("tasks %v, want %v", rec.Tasks, want)
	}
	tickets := rec.Of("tickets")
	recent := tickets[0].Entry.Params.Get("createdDateFrom")
	if recent != syncStart.Add(-RecentListing).Format(DateFormat) || tickets[0].Cursor != "" {
		t.Errorf("first ticket page %v (cursor %q); want the recent listing, moving no cursor", tickets[0].Entry.Params, tickets[0].Cursor)
	}
	for _, r := range tickets {
		if r.Entry.Params.Get("createdDateFrom") == "" {
			if off := r.Entry.Params.Get("offset"); off != "100" {
				t.Errorf("the pass resumed at offset %s, want 100 (a page before 150)", off)
			}
			break
		}
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
		{"a 404 is a record gone", fmt.Errorf("get: %w", api(http.StatusNotFound)), extract.Gone},
		{"any other refusal may be the rate-limit error", api(http.StatusBadRequest), extract.Stop},
		{"403 stops", api(http.StatusForbidden), extract.Stop},
		{"a 5xx after the retries fails its part", fmt.Errorf("giving up: %w", api(503)), extract.Skip},
		{"a garbled body fails its part", errors.New("response is not a JSON array"), extract.Skip},
		{"the run's cap is partial", fmt.Errorf("list: %w", rest.ErrRunBudget), extract.Partial},
		{"a rate signal is partial", fmt.Errorf("%w: %w", ErrRateBudget, api(429)), extract.Partial},
		{"a bad key stops", fmt.Errorf("%w: %w", ErrAuth, api(401)), extract.Stop},
		{"a block stops", fmt.Errorf("%w: %w", ErrBlocked, api(403)), extract.Stop},
	} {
		if got := s.Verdict(tt.err); got != tt.want {
			t.Errorf("%s: verdict %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	list := archive.Entry{Resource: "ticketInvoices", Kind: archive.KindList, Dropped: []int{1},
		Body: []byte(`[{"id":"7","status":"Paid","created_date":"2026-11-01T10:00:00-0600"},{"id":"6"},{"id":"5","status":"Unpaid"}]`)}
	d, err := decode(list)
	if err != nil || d.Table != TicketInvoicesTable || !d.Partial || len(d.Listed) != 2 || d.Listed[0].ID != "7" || d.Listed[1].ID != "5" || d.Fetched != "" {
		t.Errorf("invoice list page: %+v, %v; want partial, listing 7 and 5 (6 was dropped)", d, err)
	}
	det, err := decode(archive.Entry{Resource: "ticketInvoices", Kind: archive.KindDetail, Body: []byte(`{"id":9,"line_items":[]}`)})
	if err != nil || det.Partial || det.Fetched != "9" || det.Listed != nil {
		t.Errorf("invoice detail: %+v, %v; want whole, fetched 9", det, err)
	}
	cf, err := decode(archive.Entry{Resource: "customFields/products", Kind: archive.KindList, Body: []byte(`[{"id":1}]`)})
	if err != nil || cf.Table != CustomFieldsTable || cf.Fixed["type"] != "products" || cf.Partial {
		t.Errorf("custom fields: %+v, %v", cf, err)
	}
	if none, err := decode(archive.Entry{Resource: "webhooks", Kind: archive.KindList, Body: []byte(`[]`)}); err != nil || none.Table != nil {
		t.Errorf("an unknown resource: %+v, %v; want no table", none, err)
	}
}

// A server that answers the invoices only under the spellings of the
// vendor page's example URLs is followed there after one 404 each, and
// says so once.
func TestInvoicesUnderTheDocumentedSpellings(t *testing.T) {
	clk := budget.NewFake(syncStart)
	srv := mgrtest.NewServer(mgrtest.WithClock(clk), mgrtest.WithTickets(80, 20), mgrtest.WithDocumentedSpellings())
	defer srv.Close()
	var logs strings.Builder
	c, err := NewClient(srv.Shops[0].Key, rest.WithBaseURL(srv.URL), rest.WithClock(clk), rest.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := srv.Shops[0].InvoiceIDs()
	var listed int
	if err := c.List(ctx, TicketInvoices, func(p Page) error { listed += p.Count; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:3] {
		if _, err := c.Get(ctx, "ticketInvoices", id); err != nil {
			t.Fatal(err)
		}
	}
	if listed != len(ids) {
		t.Errorf("listed %d invoices, the shop has %d", listed, len(ids))
	}
	var paths []string
	for _, r := range srv.Log() {
		if r.Status == http.StatusNotFound {
			paths = append(paths, r.Path)
		}
	}
	if len(paths) != 2 || paths[0] != "/v1/ticketInvoices" || !strings.HasPrefix(paths[1], "/v1/ticketInvoices/") {
		t.Errorf("404s %v; want one for the list and one for the first detail", paths)
	}
	if n := strings.Count(logs.String(), "answers under another of the spellings"); n != 2 {
		t.Errorf("said %d times; want once for the list, once for the detail:\n%s", n, logs.String())
	}
	// Once the spelling is known, a record gone is one 404.
	if _, err := c.Get(ctx, "ticketInvoices", "999999"); !IsNotFound(err) {
		t.Errorf("a missing invoice: %v, want a 404", err)
	}
}
