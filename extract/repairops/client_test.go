package repairops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/extract/rest"
)

var start = time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)

func newPair(t *testing.T, srvOpts []repairopstest.Option, opts ...Option) (*repairopstest.Server, *Client, *budget.Fake) {
	t.Helper()
	clk := budget.NewFake(start)
	srv := repairopstest.NewServer(append([]repairopstest.Option{repairopstest.WithClock(clk), repairopstest.WithTickets(300)}, srvOpts...)...)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.Orgs[0].Key, append([]Option{rest.WithBaseURL(srv.URL), rest.WithClock(clk), rest.WithRetries(3, time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, clk
}

func TestListFollowsNextOffset(t *testing.T) {
	srv, c, _ := newPair(t, []repairopstest.Option{repairopstest.WithSortable("created_at", "updated_at")}, rest.WithPageSize(120))
	var ids []string
	pages := 0
	err := c.List(context.Background(), Resource{Name: "tickets", Params: map[string][]string{"sort": {"-updated_at"}}}, func(p Page) error {
		pages++
		for _, l := range Listing(Tickets, p.Records) {
			ids = append(ids, l.ID)
		}
		if p.Total != 300 {
			t.Errorf("page total %d", p.Total)
		}
		return nil
	})
	if err != nil || pages != 3 || len(ids) != 300 {
		t.Fatalf("pages %d, ids %d, err %v; want 3 pages of 300 tickets", pages, len(ids), err)
	}
	if n := len(srv.Log()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	// StopListing ends a listing early and cleanly.
	pages = 0
	err = c.List(context.Background(), Tickets, func(p Page) error { pages++; return StopListing })
	if err != nil || pages != 1 {
		t.Errorf("StopListing: pages %d, err %v", pages, err)
	}
}

// The client stops short of the quota, leaving the reserve, and never
// meets a 429; with a deadline past the reset it waits and goes on.
func TestQuotaIsNeverRunDry(t *testing.T) {
	srv, c, clk := newPair(t, []repairopstest.Option{repairopstest.WithQuota(50, time.Hour)})
	ctx := context.Background()
	ids := srv.Orgs[0].TicketIDs()
	n := 0
	var err error
	for _, id := range ids {
		if _, err = c.Get(ctx, "tickets", id); err != nil {
			break
		}
		n++
	}
	if !errors.Is(err, ErrQuota) || n != 45 {
		t.Fatalf("stopped after %d requests with %v; want ErrQuota after 45 (90%% of 50)", n, err)
	}
	if !strings.Contains(err.Error(), "X-RateLimit-Remaining is 5 of 50") || !strings.Contains(err.Error(), "2026-11-20T11:00:01Z") {
		t.Errorf("error does not say why and until when: %v", err)
	}
	if got := srv.Count("metro", 429, ""); got != 0 {
		t.Fatalf("%d × 429", got)
	}
	// A run with time to spare waits for the reset.
	c2, _ := NewClient(srv.Orgs[0].Key, rest.WithBaseURL(srv.URL), rest.WithClock(clk), rest.WithRunBudget(0, clk.Now().Add(2*time.Hour)))
	for _, id := range ids[:60] {
		if _, err := c2.Get(ctx, "tickets", id); err != nil {
			t.Fatalf("with a deadline: %v", err)
		}
	}
	if got := srv.Count("metro", 429, ""); got != 0 || clk.Now().Before(start.Add(30*time.Minute)) {
		t.Fatalf("%d × 429, clock %v; want none, and a wait past the 11:00 reset", got, clk.Now())
	}
}

// The API's lower quota wins over the configured one.
func TestLowerServerQuotaWins(t *testing.T) {
	srv, c, _ := newPair(t, []repairopstest.Option{repairopstest.WithQuota(20, time.Hour)}, rest.WithRateLimit(1000, time.Hour, 0))
	n := 0
	var err error
	for _, id := range srv.Orgs[0].TicketIDs() {
		if _, err = c.Get(context.Background(), "tickets", id); err != nil {
			break
		}
		n++
	}
	if !errors.Is(err, ErrQuota) || n != 18 || srv.Count("metro", 429, "") != 0 {
		t.Fatalf("stopped after %d with %v; want 18 (90%% of the server's 20) and no 429", n, err)
	}
}

// A 429 (another integration spent the quota) is waited out to the reset.
func TestA429IsWaitedOutToTheReset(t *testing.T) {
	for _, retryAfter := range []bool{false, true} {
		t.Run(fmt.Sprint("retry-after=", retryAfter), func(t *testing.T) {
			opts := []repairopstest.Option{}
			if retryAfter {
				opts = append(opts, repairopstest.WithRetryAfter())
			}
			srv, c, clk := newPair(t, opts)
			srv.Inject(repairopstest.Fault{RateLimited: 1})
			if _, err := c.Get(context.Background(), "tickets", srv.Orgs[0].TicketIDs()[0]); err != nil {
				t.Fatal(err)
			}
			log := srv.Log()
			if len(log) != 2 || log[0].Status != 429 || log[1].Status != 200 {
				t.Fatalf("log %+v", log)
			}
			reset := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
			if log[1].Time.Before(reset) || clk.Now().Sub(reset) > time.Minute {
				t.Fatalf("retried at %v; want at the 11:00 reset", log[1].Time)
			}
		})
	}
}

// A 429 whose reset lies beyond the run's deadline ends the run, cleanly.
func TestA429PastTheDeadlineStops(t *testing.T) {
	srv, c, _ := newPair(t, nil, rest.WithRunBudget(0, start.Add(10*time.Minute)))
	srv.Inject(repairopstest.Fault{RateLimited: 1})
	_, err := c.Get(context.Background(), "tickets", srv.Orgs[0].TicketIDs()[0])
	if !errors.Is(err, ErrQuota) || len(srv.Log()) != 1 {
		t.Fatalf("err %v after %d requests; want ErrQuota after 1", err, len(srv.Log()))
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	srv, c, _ := newPair(t, nil)
	srv.Inject(repairopstest.Fault{ServerErrors: 1, Truncated: 1, HTMLPage: 1})
	p, err := c.Get(context.Background(), "tickets", srv.Orgs[0].TicketIDs()[0])
	if err != nil || p.Count != 1 {
		t.Fatalf("%v", err)
	}
	if n := len(srv.Log()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	srv.Inject(repairopstest.Fault{ServerErrors: 10})
	_, err = c.Get(context.Background(), "tickets", srv.Orgs[0].TicketIDs()[0])
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 attempts") || !strings.Contains(err.Error(), "SERVER_ERROR") {
		t.Errorf("err = %v", err)
	}
}

func TestAuthFailuresNameTheKeyAndScope(t *testing.T) {
	srv, _, clk := newPair(t, nil)
	for scope, want := range map[string]string{"webhooks": "scope does not allow reading /tickets", "bogus": "missing or invalid"} {
		key := srv.Orgs[0].Keys[scope]
		if key == "" {
			key = "ro_bogus_key_0123456789"
		}
		c, _ := NewClient(key, rest.WithBaseURL(srv.URL), rest.WithClock(clk))
		err := c.List(context.Background(), Tickets, func(Page) error { return nil })
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "api_key_env") {
			t.Errorf("%s: %v", scope, err)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s: the error shows the key", scope)
		}
	}
}

// The error envelope reaches the caller verbatim, with the key redacted.
func TestErrorEnvelopeVerbatimKeyRedacted(t *testing.T) {
	const key = "ro_live_s3cr3t_k3y_42"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, `{"error":{"code":"CONFLICT","message":"Key %s: resource conflict","details":{"field":"id","value":"x-1","key":"%s"}}}`, key, key)
	}))
	defer srv.Close()
	c, _ := NewClient(key, rest.WithBaseURL(srv.URL))
	_, err := c.Get(context.Background(), "tickets", "x-1")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Code != "CONFLICT" {
		t.Fatalf("err %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"HTTP 409 CONFLICT", "Key [redacted]: resource conflict", `"field":"id","value":"x-1"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, key) || !json.Valid(ae.Details) {
		t.Errorf("error %q shows the key or has invalid details", msg)
	}
}

func TestDecodeListIsLiberal(t *testing.T) {
	for _, tt := range []struct {
		name       string
		body       string
		items      int
		next, more any
	}{
		{"documented", `{"data":[{"id":1},{"id":2}],"pagination":{"offset":0,"limit":2,"total":5,"next_offset":2,"has_more":true}}`, 2, 2, true},
		{"last page", `{"data":[{"id":5}],"pagination":{"offset":4,"limit":2,"total":5,"next_offset":null,"has_more":false}}`, 1, 1, false},
		{"no has_more, next_offset", `{"data":[{"id":1},{"id":2}],"pagination":{"offset":0,"limit":2,"total":5,"next_offset":2}}`, 2, 2, true},
		{"total only", `{"data":[{"id":1},{"id":2}],"pagination":{"offset":0,"limit":2,"total":2}}`, 2, 2, false},
		{"no pagination, full page", `{"data":[{"id":1},{"id":2}]}`, 2, 2, true},
		{"bare array, short page", `[{"id":1}]`, 1, 1, false},
		{"empty page with has_more", `{"data":[],"pagination":{"has_more":true}}`, 0, 0, false},
		{"null data: an empty result", `{"data":null,"pagination":{"offset":0,"limit":2,"total":0}}`, 0, 0, false},
	} {
		lp, err := decodeList([]byte(tt.body), 0, 2)
		if err != nil || len(lp.items) != tt.items || lp.next != tt.next || lp.more != tt.more {
			t.Errorf("%s: items %d next %d more %v err %v", tt.name, len(lp.items), lp.next, lp.more, err)
		}
	}
	// A server that caps the page size below the limit asked: a page of
	// its own limit is full, not the last.
	if lp, _ := decodeList([]byte(`{"data":[{"id":1},{"id":2}],"pagination":{"offset":0,"limit":2}}`), 0, 500); !lp.more || lp.next != 2 {
		t.Errorf("capped page size: next %d more %v; want 2, true", lp.next, lp.more)
	}
	for _, body := range []string{`{"items":[]}`, `{"data":{"id":1}}`, `{"data":"none"}`} {
		if _, err := decodeList([]byte(body), 0, 2); err == nil {
			t.Errorf("%s was accepted as a list", body)
		}
	}
}

func TestResetTimeForms(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	// A server 5 minutes ahead names instants 5 minutes late on our clock;
	// a time from now is the same on both.
	ahead := 5 * time.Minute
	for _, c := range []struct {
		in   string
		skew time.Duration
		want time.Time
	}{
		{"1795168800", 0, time.Unix(1795168800, 0)},
		{"1795168800000", 0, time.UnixMilli(1795168800000)},
		{"120", 0, now.Add(2 * time.Minute)},
		{"Fri, 20 Nov 2026 11:00:00 GMT", 0, time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)},
		{"soon", 0, time.Time{}},
		{"1795168800", ahead, time.Unix(1795168800, 0).Add(-ahead)},
		{"1795168800000", -ahead, time.UnixMilli(1795168800000).Add(ahead)},
		{"120", ahead, now.Add(2 * time.Minute)},
		{"Fri, 20 Nov 2026 11:00:00 GMT", ahead, time.Date(2026, 11, 20, 10, 55, 0, 0, time.UTC)},
	} {
		if got := resetTime(c.in, now, c.skew); !got.Equal(c.want) {
			t.Errorf("resetTime(%q, skew %v) = %v, want %v", c.in, c.skew, got, c.want)
		}
	}
}

// Another implementation within the docs: it caps pages at 100 whatever
// the limit asked, says neither has_more nor next_offset nor total, and
// pages KPIs (documented without pagination) by the default 50. Nothing is
// lost and no KPI row is counted as missing.
func TestPagingTheServerChose(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RequestURI())
		w.Header().Set("X-RateLimit-Limit", "1000")
		w.Header().Set("X-RateLimit-Remaining", "900")
		w.Header().Set("X-RateLimit-Reset", fmt.Sprint(start.Add(time.Hour).Unix()))
		q := r.URL.Query()
		off := 0
		fmt.Sscan(q.Get("offset"), &off)
		var data []string
		pg := map[string]any{"offset": off}
		switch r.URL.Path {
		case "/tickets":
			for i := off; i < min(off+100, 250); i++ {
				data = append(data, fmt.Sprintf(`{"id":"t%d"}`, i))
			}
			pg["limit"] = 100
		case "/kpis":
			day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := off; i < min(off+50, 120); i++ {
				data = append(data, fmt.Sprintf(`{"date":%q,"revenue":1}`, day0.AddDate(0, 0, i).Format(DateFormat)))
			}
			pg["limit"], pg["total"], pg["has_more"] = 50, 120, off+50 < 120
		}
		b, _ := json.Marshal(pg)
		fmt.Fprintf(w, `{"data":[%s],"pagination":%s}`, strings.Join(data, ","), b)
	}))
	t.Cleanup(srv.Close)
	var logged strings.Builder
	c, err := NewClient("k", rest.WithBaseURL(srv.URL), rest.WithClock(budget.NewFake(start)), rest.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	if err != nil {
		t.Fatal(err)
	}
	count := func(res Resource) int {
		n := 0
		if err := c.List(context.Background(), res, func(p Page) error { n += p.Count; return nil }); err != nil {
			t.Fatalf("list %s: %v", res.Name, err)
		}
		return n
	}
	if n := count(Tickets); n != 250 {
		t.Errorf("tickets: %d of 250 (requests %v)", n, asked)
	}
	asked = nil
	kpis := KPIs
	kpis.Params = map[string][]string{"start_date": {"2026-01-01"}, "end_date": {"2026-04-30"}}
	if n := count(kpis); n != 120 {
		t.Errorf("KPIs: %d of 120 (requests %v)", n, asked)
	}
	if len(asked) != 3 || strings.Contains(asked[0], "offset") || !strings.Contains(asked[2], "offset=100") {
		t.Errorf("KPI requests %v; want the first as documented (no paging) and then the server's pages", asked)
	}
	if strings.Contains(logged.String(), "differ from the total") {
		t.Errorf("a complete KPI listing was reported as incomplete: %s", logged.String())
	}
}
