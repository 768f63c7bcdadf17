package repairopstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
)

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func get(t *testing.T, url, key string) resp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	out := resp{status: r.StatusCode, header: r.Header, raw: raw}
	json.Unmarshal(raw, &out.body)
	return out
}

func errorCode(r resp) string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestQuotaHeadersAndThe429Envelope(t *testing.T) {
	clk := budget.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	srv := NewServer(WithClock(clk), WithQuota(5, time.Hour), WithTickets(20))
	defer srv.Close()
	o := srv.Orgs[0]
	for i := 1; i <= 5; i++ {
		r := get(t, srv.URL+"/inventory", o.Key)
		if r.status != 200 || r.header.Get("X-RateLimit-Limit") != "5" || r.header.Get("X-RateLimit-Remaining") != strconv.Itoa(5-i) {
			t.Fatalf("request %d: %d, limit %q remaining %q", i, r.status, r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"))
		}
		if reset := r.header.Get("X-RateLimit-Reset"); reset != strconv.FormatInt(time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC).Unix(), 10) {
			t.Fatalf("reset %q, want the end of the hour in epoch seconds", reset)
		}
	}
	r := get(t, srv.URL+"/inventory", o.Key)
	if r.status != 429 || errorCode(r) != "RATE_LIMIT_EXCEEDED" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("over quota: %d %s", r.status, r.raw)
	}
	// The write key has its own, smaller quota; the read key's window resets on the hour.
	if r := get(t, srv.URL+"/inventory", o.Keys["write"]); r.status != 200 || r.header.Get("X-RateLimit-Limit") != "1" {
		t.Fatalf("write key: %d limit %q", r.status, r.header.Get("X-RateLimit-Limit"))
	}
	clk.Advance(time.Hour)
	if r := get(t, srv.URL+"/inventory", o.Key); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "4" {
		t.Fatalf("after the reset: %d remaining %q", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
}

func TestAuthErrors(t *testing.T) {
	srv := NewServer(WithTickets(10))
	defer srv.Close()
	for _, tt := range []struct {
		key    string
		status int
		code   string
	}{{"", 401, "UNAUTHORIZED"}, {"nope", 401, "UNAUTHORIZED"}, {srv.Orgs[0].Keys["webhooks"], 403, "FORBIDDEN"}} {
		r := get(t, srv.URL+"/tickets", tt.key)
		if r.status != tt.status || errorCode(r) != tt.code {
			t.Errorf("key %q: %d %s; want %d %s", tt.key, r.status, r.raw, tt.status, tt.code)
		}
	}
	r := get(t, srv.URL+"/tickets/not-a-uuid", srv.Orgs[0].Key)
	if r.status != 400 || errorCode(r) != "INVALID_REQUEST" || !strings.Contains(string(r.raw), `"field":"ticket_id"`) {
		t.Errorf("bad id: %d %s", r.status, r.raw)
	}
	if r := get(t, srv.URL+"/tickets?limit=501", srv.Orgs[0].Key); r.status != 400 {
		t.Errorf("limit 501: %d, want 400", r.status)
	}
}

func TestPaginationFiltersAndSort(t *testing.T) {
	// This deployment sorts by updated_at and shows shop_id, beyond the docs.
	srv := NewServer(WithTickets(300), WithSortable("created_at", "updated_at"), WithShopIDs())
	defer srv.Close()
	o := srv.Orgs[0]
	seen := map[string]bool{}
	prev := ""
	for off := 0; ; {
		r := get(t, srv.URL+"/tickets?sort=-updated_at&limit=120&offset="+strconv.Itoa(off), o.Key)
		pg := r.body["pagination"].(map[string]any)
		if pg["total"].(float64) != 300 || pg["limit"].(float64) != 120 || pg["offset"].(float64) != float64(off) {
			t.Fatalf("pagination %v", pg)
		}
		for _, d := range r.body["data"].([]any) {
			rec := d.(map[string]any)
			seen[rec["id"].(string)] = true
			if u := rec["updated_at"].(string); prev != "" && u > prev {
				t.Fatalf("not sorted by -updated_at: %s after %s", u, prev)
			} else {
				prev = u
			}
		}
		if !pg["has_more"].(bool) {
			if pg["next_offset"] != nil {
				t.Fatalf("last page has next_offset %v", pg["next_offset"])
			}
			break
		}
		off = int(pg["next_offset"].(float64))
	}
	if len(seen) != 300 {
		t.Fatalf("paged through %d distinct tickets, want 300", len(seen))
	}
	shop := o.Shops[1].ID
	r := get(t, srv.URL+"/tickets?limit=500&status=CLOSED&shop_id="+shop+"&created_after=2026-06-01&created_before=2026-09-01", o.Key)
	data := r.body["data"].([]any)
	if len(data) == 0 {
		t.Fatal("filters matched nothing")
	}
	for _, d := range data {
		rec := d.(map[string]any)
		if rec["status"] != "CLOSED" || rec["shop_id"] != shop || rec["created_at"].(string) < "2026-06-01" || rec["created_at"].(string) >= "2026-09-01" {
			t.Fatalf("filter leak: %v", rec)
		}
	}
}

// A ticket's detail agrees with its summary and with itself: the timeline
// ends at updated_at, labor plus parts is total_cost.
func TestTicketDetailsAreCoherent(t *testing.T) {
	srv := NewServer(WithTickets(200))
	defer srv.Close()
	o := srv.Orgs[0]
	r := get(t, srv.URL+"/tickets?limit=500", o.Key)
	for _, d := range r.body["data"].([]any) {
		sum := d.(map[string]any)
		det := get(t, srv.URL+"/tickets/"+sum["id"].(string), o.Key).body
		tl := det["timeline"].([]any)
		last := tl[len(tl)-1].(map[string]any)
		if last["timestamp"] != det["updated_at"] || last["status"] != det["status"] || det["updated_at"] != sum["updated_at"] {
			t.Fatalf("ticket %s: timeline ends %v, updated_at %v/%v", sum["number"], last, det["updated_at"], sum["updated_at"])
		}
		cents := func(v any) int64 { return int64(v.(float64)*100 + 0.5) }
		var total int64
		if l, ok := det["labor"].(map[string]any); ok {
			total += cents(l["total"])
			if cents(l["total"]) != cents(sum["labor_cost"]) {
				t.Fatalf("ticket %s: labor %v vs labor_cost %v", sum["number"], l["total"], sum["labor_cost"])
			}
		}
		if ps, ok := det["parts"].([]any); ok {
			for _, p := range ps {
				total += cents(p.(map[string]any)["total"])
			}
		}
		if total != cents(det["total_cost"]) || total != cents(sum["total_cost"]) {
			t.Fatalf("ticket %s: labor+parts %d, total_cost %v / %v", sum["number"], total, det["total_cost"], sum["total_cost"])
		}
	}
}

// The KPIs are the tickets': a year of a shop's revenue is the total of
// its tickets closed in that time.
func TestKPIsComeFromTheTickets(t *testing.T) {
	clk := budget.NewFake(DataEnd().Add(24 * time.Hour))
	srv := NewServer(WithClock(clk), WithTickets(400))
	defer srv.Close()
	o := srv.Orgs[0]
	shop := o.Shops[0].ID
	var revenue int64
	var closed int
	for d := o.KPIFirstDay(); !d.After(clk.Now()); d = d.AddDate(0, 0, 90) {
		end := d.AddDate(0, 0, 89)
		r := get(t, srv.URL+"/kpis?shop_id="+shop+"&start_date="+d.Format("2006-01-02")+"&end_date="+end.Format("2006-01-02"), o.Key)
		if r.status != 200 {
			t.Fatalf("kpis: %d %s", r.status, r.raw)
		}
		for _, k := range r.body["data"].([]any) {
			revenue += int64(k.(map[string]any)["revenue"].(float64)*100 + 0.5)
			closed += int(k.(map[string]any)["throughput"].(float64))
		}
	}
	var want int64
	var wantClosed int
	for _, tk := range o.tickets {
		if tk.ShopID == shop && tk.status() == "CLOSED" {
			want += tk.totalCents()
			wantClosed++
		}
	}
	if revenue != want || closed != wantClosed || closed == 0 {
		t.Fatalf("KPI revenue %d over %d tickets; closed tickets total %d over %d", revenue, closed, want, wantClosed)
	}
	if r := get(t, srv.URL+"/kpis?start_date=2025-01-01&end_date=2025-12-31", o.Key); r.status != 400 || errorCode(r) != "INVALID_REQUEST" {
		t.Fatalf("a year in one request: %d %s; want the range limit", r.status, r.raw)
	}
}

func TestChangedTicketsMoveOn(t *testing.T) {
	srv := NewServer(WithTickets(200))
	defer srv.Close()
	at := DataEnd().Add(48 * time.Hour)
	ids, err := srv.ChangeTickets("metro", 5, at)
	if err != nil || len(ids) != 5 {
		t.Fatal(ids, err)
	}
	for _, id := range ids {
		d := get(t, srv.URL+"/tickets/"+id, srv.Orgs[0].Key).body
		if d["updated_at"] != at.Format(time.RFC3339) {
			t.Errorf("ticket %s updated_at %v, want %v", id, d["updated_at"], at)
		}
	}
	added, _ := srv.AddTickets("metro", 2, at)
	if d := get(t, srv.URL+"/tickets/"+added[0], srv.Orgs[0].Key).body; d["status"] != "INTAKE" {
		t.Errorf("new ticket: %v", d["status"])
	}
}

// By default the simulator shows and takes only what the reference
// documents: no shop_id on list records, sort by created_at only, and a
// 400 for any parameter an endpoint does not take.
func TestOnlyWhatTheDocsShow(t *testing.T) {
	srv := NewServer(WithTickets(40))
	defer srv.Close()
	key := srv.Orgs[0].Key
	for _, tt := range []struct {
		path   string
		status int
		field  string
	}{
		{"/tickets?sort=-created_at&limit=5", 200, ""},
		{"/tickets?sort=-updated_at", 400, "sort"},
		{"/tickets?updated_after=2026-01-01", 400, "updated_after"},
		{"/customers?name=a&created_after=2026-01-01", 200, ""},
		{"/inventory?in_stock=true&category=screens", 200, ""},
		{"/inventory?page=2", 400, "page"},
		{"/kpis?start_date=2026-01-01&end_date=2026-01-31&metrics=revenue", 200, ""},
		{"/kpis?start_date=2026-01-01&end_date=2026-01-31&sort=date", 400, "sort"},
		{"/tickets/" + srv.Orgs[0].TicketIDs()[0] + "?expand=parts", 400, "expand"},
	} {
		r := get(t, srv.URL+tt.path, key)
		if r.status != tt.status || (tt.field != "" && (errorCode(r) != "INVALID_REQUEST" || !strings.Contains(string(r.raw), `"field":"`+tt.field+`"`))) {
			t.Errorf("%s: %d %s; want %d naming %q", tt.path, r.status, r.raw, tt.status, tt.field)
		}
	}
	for _, path := range []string{"/tickets?limit=500", "/customers?limit=500", "/inventory?limit=500"} {
		for _, d := range get(t, srv.URL+path, key).body["data"].([]any) {
			if _, ok := d.(map[string]any)["shop_id"]; ok {
				t.Fatalf("%s: a record carries shop_id: %v", path, d)
			}
		}
	}
}
