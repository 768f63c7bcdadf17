package mgrtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
)

func get(t *testing.T, s *Server, key, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func newFakeServer(t *testing.T, opts ...Option) (*Server, *budget.Fake) {
	clk := budget.NewFake(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	s := NewServer(append([]Option{WithClock(clk), WithTickets(120, 80)}, opts...)...)
	t.Cleanup(s.Close)
	return s, clk
}

func TestSeededDataMeetsTheBrief(t *testing.T) {
	s := NewServer()
	defer s.Close()
	if len(s.Shops) < 2 {
		t.Fatalf("%d shops, want ≥ 2", len(s.Shops))
	}
	for _, sh := range s.Shops {
		if sh.Tickets() < 1500 {
			t.Errorf("shop %s: %d tickets, want ≥ 1500", sh.Name, sh.Tickets())
		}
		first, last := sh.tickets[0].created, sh.tickets[0].created
		for _, tk := range sh.tickets {
			if tk.created.Before(first) {
				first = tk.created
			}
			if tk.created.After(last) {
				last = tk.created
			}
		}
		if months := last.Sub(first).Hours() / 24 / 30; months < 12 {
			t.Errorf("shop %s: history spans %.1f months, want ≥ 12", sh.Name, months)
		}
	}
	again := NewServer()
	defer again.Close()
	if again.Shops[0].Key != s.Shops[0].Key || string(again.Shops[0].tickets[7].raw) != string(s.Shops[0].tickets[7].raw) {
		t.Error("same seed gave different data")
	}
}

func TestAuth(t *testing.T) {
	s, _ := newFakeServer(t)
	code, body := get(t, s, "wrong", "/tickets")
	var e map[string]string
	if code != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || e["error"] == "" {
		t.Fatalf("unknown key: %d %s, want 401 {\"error\":…}", code, body)
	}
	if code, _ := get(t, s, s.Shops[0].Key, "/tickets"); code != http.StatusOK {
		t.Fatalf("good key: %d", code)
	}
}

func TestPaging(t *testing.T) {
	s, _ := newFakeServer(t)
	key := s.Shops[0].Key
	list := func(q string) []map[string]any {
		code, body := get(t, s, key, "/tickets"+q)
		var out []map[string]any
		if code != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("%s: %d %s, want a bare JSON array", q, code, body)
		}
		return out
	}
	if n := len(list("")); n != 50 {
		t.Errorf("default page: %d records, want 50", n)
	}
	if n := len(list("?limit=500")); n != 50 {
		t.Errorf("limit=500: %d records, want the documented maximum 50", n)
	}
	if n := len(list("?page=2")); n != 0 {
		t.Errorf("page=2: %d records, want [] (live behaviour)", n)
	}
	if n := len(list("?limit=50&offset=100")); n != 20 {
		t.Errorf("last page: %d records, want 20", n)
	}
	// Loose ordering: newest first overall, but not strictly.
	all := append(append(list("?offset=0"), list("?offset=50")...), list("?offset=100")...)
	inversions := 0
	for i := 1; i < len(all); i++ {
		if all[i]["created_date"].(string) > all[i-1]["created_date"].(string) {
			inversions++
		}
	}
	if inversions == 0 {
		t.Error("ordering is strict; the live API's is loose")
	}
	if code, _ := get(t, s, key, "/tickets?offset=-1"); code != http.StatusBadRequest {
		t.Errorf("offset=-1: %d, want 400", code)
	}
	id := fmt.Sprint(all[3]["id"])
	code, body := get(t, s, key, "/tickets/"+id)
	var one map[string]any
	if code != 200 || json.Unmarshal(body, &one) != nil || fmt.Sprint(one["id"]) != id {
		t.Errorf("detail %s: %d %s", id, code, body)
	}
	if code, _ := get(t, s, key, "/tickets/999"); code != http.StatusNotFound {
		t.Errorf("missing ticket: %d, want 404", code)
	}
	// created date filters, dd-mmm-yyyy.
	sh := s.Shops[0]
	day := sh.tickets[10].created.In(sh.Zone).Format("02-Jan-2006")
	for _, r := range list("?createdDateFrom=" + day + "&createdDateTo=" + day) {
		if got := r["created_date"].(string); got[:10] != sh.tickets[10].created.In(sh.Zone).Format("2006-01-02") {
			t.Errorf("filter %s returned a ticket created %s", day, got)
		}
	}
}

func TestRateLimitAndBlock(t *testing.T) {
	s, clk := newFakeServer(t, WithRateLimitStatus(http.StatusBadRequest))
	north, south := s.Shops[0].Key, s.Shops[1].Key
	for i := 0; i < DefaultLimit; i++ {
		if code, body := get(t, s, north, "/tickets"); code != 200 {
			t.Fatalf("request %d within the limit: %d %s", i+1, code, body)
		}
		clk.Advance(time.Second)
	}
	code, body := get(t, s, north, "/tickets")
	if code != http.StatusBadRequest || !json.Valid(body) {
		t.Fatalf("31st request in a minute: %d %s, want the rate-limit error with the configured status", code, body)
	}
	// Ignoring it: every request inside the next minute is a strike; the 10th blocks.
	for i := 1; i <= DefaultStrikes; i++ {
		clk.Advance(time.Second)
		code, _ = get(t, s, north, "/tickets")
		if i < DefaultStrikes && code != http.StatusBadRequest {
			t.Fatalf("ignored request %d: %d, want the rate-limit error", i, code)
		}
	}
	if code != http.StatusForbidden || !s.Blocked("north") {
		t.Fatalf("after 10 ignored errors: %d, blocked=%v; want the key blocked", code, s.Blocked("north"))
	}
	// The IP is blocked too: the other shop's key from this machine is refused.
	if code, _ := get(t, s, south, "/tickets"); code != http.StatusForbidden {
		t.Errorf("other key from the blocked IP: %d, want 403", code)
	}
	clk.Advance(5*time.Hour + 59*time.Minute)
	if code, _ := get(t, s, north, "/tickets"); code != http.StatusForbidden {
		t.Errorf("before 6 h: %d, want still blocked", code)
	}
	clk.Advance(2 * time.Minute)
	if code, _ := get(t, s, north, "/tickets"); code != http.StatusOK {
		t.Errorf("after 6 h: %d, want unblocked", code)
	}
}

func TestObeyingTheRateLimitErrorIsNotAStrike(t *testing.T) {
	s, clk := newFakeServer(t)
	key := s.Shops[0].Key
	for round := 0; round < 15; round++ {
		for i := 0; i <= DefaultLimit; i++ {
			get(t, s, key, "/tickets")
		}
		clk.Advance(DefaultCooldown) // obey: a full minute of silence
	}
	if s.Blocked("north") {
		t.Fatal("a client that waited a minute after every error was blocked")
	}
	if n := s.RateLimitErrors("north"); n != 15 {
		t.Fatalf("rate-limit errors = %d, want 15", n)
	}
}

func TestInjectedFaults(t *testing.T) {
	s, _ := newFakeServer(t)
	key := s.Shops[0].Key
	s.Inject(Fault{Unauthorized: 1, ServerErrors: 1})
	if code, _ := get(t, s, key, "/tickets"); code != http.StatusUnauthorized {
		t.Errorf("first: %d, want injected 401", code)
	}
	if code, _ := get(t, s, key, "/tickets"); code != http.StatusServiceUnavailable {
		t.Errorf("second: %d, want injected 503", code)
	}
	if code, _ := get(t, s, key, "/tickets"); code != http.StatusOK {
		t.Errorf("third: %d, want 200", code)
	}
}

// all lists a resource by offset, page by page.
func all(t *testing.T, s *Server, key, res string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for off := 0; ; off += PageSize {
		code, body := get(t, s, key, fmt.Sprintf("/%s?limit=50&offset=%d", res, off))
		var page []map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if code != 200 || dec.Decode(&page) != nil {
			t.Fatalf("%s at %d: %d %.200s", res, off, code, body)
		}
		out = append(out, page...)
		if len(page) < PageSize {
			return out
		}
	}
}

func TestEveryResourceIsServedCoherently(t *testing.T) {
	s, _ := newFakeServer(t, WithRateLimit(100000, time.Minute))
	resources := []string{"customers", "tickets", "ticketInvoices", "posInvoices", "purchaseOrders", "products", "models", "brands",
		"users", "suppliers", "paymentMethods", "taxRates", "customFields/tickets", "customFields/customers", "customFields/products", "issueTypes", "statuses"}
	if got := s.Shops[0].Resources(); len(got) != len(resources) {
		t.Fatalf("resources = %v, want the 17 documented", got)
	}
	nonASCII := false
	for _, sh := range s.Shops {
		for _, res := range resources {
			recs := all(t, s, sh.Key, res)
			if len(recs) != sh.Count(res) {
				t.Errorf("%s %s: listed %d, holds %d", sh.Name, res, len(recs), sh.Count(res))
			}
		}
		for _, st := range all(t, s, sh.Key, "statuses") {
			for _, r := range st["label"].(string) {
				nonASCII = nonASCII || r > 127
			}
		}
		// Invoices: totals are lines plus tax, payments sum to the paid amount.
		for _, res := range []string{"ticketInvoices", "posInvoices"} {
			for _, inv := range all(t, s, sh.Key, res) {
				code, body := get(t, s, sh.Key, fmt.Sprintf("/%s/%v", res, inv["id"]))
				var d struct {
					Sub, Tax, Total, Paid, Due string
					Lines                      []struct{ Total string } `json:"line_items"`
					Payments                   []struct{ Amount string }
				}
				var m map[string]json.RawMessage
				json.Unmarshal(body, &m)
				json.Unmarshal(body, &d)
				d.Sub, d.Total, d.Paid, d.Due = str(m["amount_subtotal"]), str(m["amount_total"]), str(m["amount_paid"]), str(m["amount_due"])
				d.Tax = str(m["amount_tax"])
				if code != 200 {
					t.Fatalf("%s detail %v: %d", res, inv["id"], code)
				}
				var lines, pays int64
				for _, l := range d.Lines {
					lines += parseCents(l.Total)
				}
				for _, p := range d.Payments {
					pays += parseCents(p.Amount)
				}
				if lines != parseCents(d.Sub) || parseCents(d.Sub)+parseCents(d.Tax) != parseCents(d.Total) || pays != parseCents(d.Paid) || parseCents(d.Total)-pays != parseCents(d.Due) {
					t.Fatalf("%s %v incoherent: lines %d, %+v, payments %d", res, inv["id"], lines, d, pays)
				}
				if fmt.Sprint(inv["amount_total"]) != d.Total {
					t.Fatalf("%s %v: list total %v, detail %s", res, inv["id"], inv["amount_total"], d.Total)
				}
			}
		}
		partial := 0
		for _, po := range all(t, s, sh.Key, "purchaseOrders") {
			if po["status"] == "Partially Received" {
				partial++
			}
		}
		if partial == 0 {
			t.Errorf("%s: no partially received purchase order", sh.Name)
		}
	}
	if !nonASCII {
		t.Error("no non-English status label")
	}
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func TestGarblingAndReorderFaults(t *testing.T) {
	s, _ := newFakeServer(t)
	key := s.Shops[0].Key
	s.Inject(Fault{Truncated: 1, HTMLPage: 1})
	if _, body := get(t, s, key, "/tickets"); json.Valid(body) {
		t.Error("truncated fault served valid JSON")
	}
	if code, body := get(t, s, key, "/tickets"); code != 200 || !strings.HasPrefix(string(body), "<!DOCTYPE html>") {
		t.Errorf("HTML fault: %d %.40s", code, body)
	}
	ids := func(q string) []string {
		_, body := get(t, s, key, "/tickets"+q)
		var page []struct{ ID json.Number }
		json.Unmarshal(body, &page)
		var out []string
		for _, r := range page {
			out = append(out, r.ID.String())
		}
		return out
	}
	first, plain := ids("?offset=0"), ids("?offset=50")
	s.Inject(Fault{Reorder: 1})
	swapped := ids("?offset=50")
	if swapped[0] != first[49] || plain[0] == swapped[0] {
		t.Errorf("reorder: page starts %s, want the previous page's last %s", swapped[0], first[49])
	}
}
