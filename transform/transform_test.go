package transform

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/schema"
)

var meta = Meta{Account: "north", RunID: "r1", ExtractedAt: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}

func TestParseMoney(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want int64
		err  string
	}{
		{"number literal is exact", json.Number("259.99"), 25999, ""},
		{"numeric string", "259.99", 25999, ""},
		{"integer", json.Number("12"), 1200, ""},
		{"one decimal", "0.5", 50, ""},
		{"negative", json.Number("-3.10"), -310, ""},
		{"trailing zeros beyond scale are exact", "1.2500", 125, ""},
		{"exponent", json.Number("2.5e2"), 25000, ""},
		{"value float64 would round", json.Number("0.29"), 29, ""},
		{"large exact", json.Number("9999999999999999.99"), 999999999999999999, ""},
		{"thousands separator is rejected, not guessed", "1,234.50", 0, "not a plain decimal"},
		{"currency sign is rejected", "$12.00", 0, "not a plain decimal"},
		{"sub-cent value is rejected", json.Number("10.125"), 0, "more than 2 decimal places"},
		{"float noise above is the amount it approximates", json.Number("259.99000000000001"), 25999, ""},
		{"float noise below too", json.Number("0.30000000000000004"), 30, ""},
		{"negative float noise", json.Number("-1.0999999999999999"), -110, ""},
		{"a millicent is not noise", json.Number("1.00001"), 0, "more than 2 decimal places"},
		{"too large", json.Number("10000000000000000"), 0, "does not fit"},
		{"object", map[string]any{}, 0, "want a number"},
		{"empty string is null", "", 0, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMoney(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseMoney(%v) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseMoney(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	utc := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	tests := []struct {
		name string
		in   any
		want time.Time
		err  bool
	}{
		{"MGR offset without colon", "2026-07-16T10:00:00-0600", utc("2026-07-16T16:00:00Z"), false},
		{"offset crossing midnight", "2026-12-31T22:30:00-0600", utc("2027-01-01T04:30:00Z"), false},
		{"RFC 3339 with colon", "2026-07-16T10:00:00+02:00", utc("2026-07-16T08:00:00Z"), false},
		{"Z with fraction", "2026-07-16T10:00:00.123Z", utc("2026-07-16T10:00:00Z").Add(123 * time.Millisecond), false},
		{"space separated, no zone, is UTC", "2026-07-16 10:00:00", utc("2026-07-16T10:00:00Z"), false},
		{"date only", "2026-07-16", utc("2026-07-16T00:00:00Z"), false},
		{"unix seconds", json.Number("1784196000"), time.Unix(1784196000, 0).UTC(), false},
		{"year 1 in UTC", "0001-01-01T00:00:00Z", utc("0001-01-01T00:00:00Z"), false},
		{"year 9999 in UTC", "9999-12-31T22:00:00-0100", utc("9999-12-31T23:00:00Z"), false},
		{"year 0 in UTC: out of range", "0000-01-01 0:00:00+0100", time.Time{}, true},
		{"year 10000 in UTC: out of range", "9999-12-31T23:30:00-0100", time.Time{}, true},
		{"unix milliseconds past year 9999: out of range", json.Number("300000000000000"), time.Time{}, true},
		{"garbage", "yesterday", time.Time{}, true},
		{"object", map[string]any{}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTimestamp(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("parseTimestamp(%v) = %v, want error", tt.in, got)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Fatalf("parseTimestamp(%v) = %v, %v; want %v in UTC", tt.in, got, err, tt.want)
			}
		})
	}
	for _, null := range []string{"", "0000-00-00 00:00:00"} {
		if _, err := parseTimestamp(null); err != errNull {
			t.Errorf("parseTimestamp(%q) = %v, want NULL", null, err)
		}
	}
}

func TestParseScalars(t *testing.T) {
	if s, err := parseString(json.Number("100123")); err != nil || s != "100123" {
		t.Errorf("numeric id = %q, %v; want the literal", s, err)
	}
	if _, err := parseString(map[string]any{}); err == nil {
		t.Error("object as text: want error")
	}
	if n, err := parseInt(json.Number("3.0")); err != nil || n != 3 {
		t.Errorf("3.0 as int = %d, %v", n, err)
	}
	if _, err := parseInt(json.Number("3.5")); err == nil {
		t.Error("3.5 as int: want error")
	}
	for in, want := range map[any]bool{true: true, "yes": true, json.Number("0"): false, "false": false} {
		if got, err := parseBool(in); err != nil || got != want {
			t.Errorf("parseBool(%v) = %v, %v", in, got, err)
		}
	}
	if d, err := parseDate("2026-07-16T23:30:00-0600"); err != nil || d.Format("2006-01-02") != "2026-07-16" {
		t.Errorf("date of an instant = %v, %v; want the source's own day", d, err)
	}
}

// row reads one row of a record as name → Go value, for assertions.
func row(t *testing.T, rec arrow.RecordBatch, i int) map[string]any {
	t.Helper()
	out := map[string]any{}
	for c, f := range rec.Schema().Fields() {
		col := rec.Column(c)
		if col.IsNull(i) {
			out[f.Name] = nil
			continue
		}
		switch a := col.(type) {
		case *array.String:
			out[f.Name] = a.Value(i)
		case *array.Decimal128:
			out[f.Name] = a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
		case *array.Timestamp:
			out[f.Name] = a.Value(i).ToTime(arrow.Microsecond).UTC()
		default:
			out[f.Name] = a.ValueStr(i)
		}
	}
	return out
}

func TestPageTickets(t *testing.T) {
	page := `[
	 {"id": 100123, "ticket_ref": "N-00001", "description": "iPhone 13 - Cracked screen",
	  "created_date": "2026-07-16T10:00:00-0600", "last_updated": "2026-07-17T09:00:00-0600",
	  "status": {"id": 101, "label": "In Progress", "color": "#f80"},
	  "issue_type": {"id": 200, "label": "Cracked screen"},
	  "technician": {"id": 11, "first_name": "Dana", "last_name": "Whitfield", "email": "dana@x"},
	  "invoice": {}, "source": "web", "api_token": "s3cret"},
	 {"id": "100124", "created_date": "2026-07-16T11:00:00-0600", "technician": null, "invoice": {"id": "inv-1", "number": "INV-1", "last_payment_date": ""}},
	 {"id": 100125, "created_date": "not a date"},
	 {"id": 100126},
	 {"ticket_ref": "no id", "created_date": "2026-07-16T11:00:00-0600"},
	 "not an object"
	]`
	b, err := Page(mgr.TicketsTable, []byte(page), meta, memory.NewCheckedAllocator(memory.DefaultAllocator))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if got := b.Record.NumRows(); got != 2 {
		t.Fatalf("rows = %d, want 2 (4 rejects)", got)
	}
	r0 := row(t, b.Record, 0)
	want := map[string]any{
		"account": "north", "id": "100123", "ticket_ref": "N-00001", "status_label": "In Progress", "status_id": "101",
		"technician_first_name": "Dana", "invoice_id": nil, "invoice_number": nil, "run_id": "r1",
		"created_date": time.Date(2026, 7, 16, 16, 0, 0, 0, time.UTC),
	}
	for k, v := range want {
		if r0[k] != v {
			t.Errorf("row 0 %s = %#v, want %#v", k, r0[k], v)
		}
	}
	var extra map[string]any
	if err := json.Unmarshal([]byte(r0["_extra"].(string)), &extra); err != nil {
		t.Fatalf("_extra %q: %v", r0["_extra"], err)
	}
	if extra["source"] != "web" || extra["status"].(map[string]any)["color"] != "#f80" || extra["api_token"] != "s3cret" {
		t.Errorf("_extra = %v; want source, status.color and api_token kept", extra)
	}
	if _, ok := extra["invoice"]; ok {
		t.Errorf("_extra keeps the empty invoice object: %v", extra)
	}
	r1 := row(t, b.Record, 1)
	if r1["id"] != "100124" || r1["technician_first_name"] != nil || r1["invoice_id"] != "inv-1" || r1["invoice_last_payment_date"] != nil || r1["_extra"] != nil {
		t.Errorf("row 1 = %v; want string id kept, null technician, empty date as NULL, no _extra", r1)
	}
	reasons := map[string]string{}
	for _, rj := range b.Rejects {
		reasons[rj.Key] = rj.Reason
		if len(rj.Raw) == 0 || rj.Table != "mgr.tickets" {
			t.Errorf("reject %+v: want raw record and table", rj)
		}
	}
	if len(b.Rejects) != 4 {
		t.Fatalf("rejects = %v, want 4", reasons)
	}
	for key, want := range map[string]string{
		"100125": `column created_date: "not a date" is not a recognised date-time`,
		"100126": "column created_date: required field created_date is missing",
		"":       "not an object",
	} {
		if !strings.Contains(reasons[key], want) {
			t.Errorf("reject %q reason = %q, want it to contain %q", key, reasons[key], want)
		}
	}
	if b.Drift["source"] != `"web"` || b.Drift["status.color"] != `"#f80"` || b.Drift["api_token"] != "[redacted]" {
		t.Errorf("drift = %v; want source, status.color and a redacted api_token", b.Drift)
	}
}

func TestPageNotArray(t *testing.T) {
	for _, body := range []string{`{"error":"x"}`, `<html>`, `[{"id":1}`} {
		if _, err := Page(mgr.TicketsTable, []byte(body), meta, nil); err == nil {
			t.Errorf("Page(%q): want error", body)
		}
	}
}

func TestAlternativeSpellingWinsOnlyWhenFirstIsAbsent(t *testing.T) {
	b, err := Page(mgr.TicketsTable, []byte(`[{"id":1,"createdDate":"2026-01-02T03:04:05Z","ticketRef":"A","ticket_ref":"B"}]`), meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	r := row(t, b.Record, 0)
	if r["ticket_ref"] != "B" || r["created_date"] != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) {
		t.Fatalf("row = %v", r)
	}
	if !strings.Contains(r["_extra"].(string), `"ticketRef":"A"`) {
		t.Errorf("_extra = %v; the unused spelling must be kept", r["_extra"])
	}
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"259.99", "1,234.50", "-0.01", "1e2", "", "9999999999999999.99", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cents, err := parseMoney(s)
		if err != nil {
			return // any error is fine; a panic or a wrong value is not
		}
		// Round trip: the value printed back with two decimals parses to itself.
		sign, abs := "", cents
		if cents < 0 {
			sign, abs = "-", -cents
		}
		back := fmt.Sprintf("%s%d.%02d", sign, abs/100, abs%100)
		if again, err := parseMoney(back); err != nil || again != cents {
			t.Fatalf("parseMoney(%q) = %d; printed back as %q it parses to %d, %v", s, cents, back, again, err)
		}
	})
}

func TestPageChildTables(t *testing.T) {
	page := `[
	 {"id": 7, "created_date": "2026-03-01T09:00:00-0600", "amount_total": "259.99",
	  "line_items": [{"id": 1, "name": "Screen", "quantity": 1, "price": "249.99", "total": 249.99, "warranty_days": 90},
	                 {"id": 2, "name": "Labour", "quantity": "1.0", "price": 10, "total": "10.00"}],
	  "payments": []},
	 {"id": 8, "created_date": "2026-03-02T09:00:00Z", "amount_total": 10},
	 {"id": 9, "created_date": "2026-03-03T09:00:00Z", "lines": [{"name": "Battery", "price": "45.5", "total": "45.50"}], "payments": {}},
	 {"id": 10, "created_date": "2026-03-04T09:00:00Z", "line_items": [{"name": "ok", "price": "1.00"}, {"name": "bad", "price": "1,234.50"}],
	  "payments": [{"id": "p1", "amount": "1.00"}]},
	 {"id": 11, "created_date": "2026-03-05T09:00:00Z", "payments": ["cash"]}
	]`
	b, err := Page(mgr.TicketInvoicesTable, []byte(page), meta, memory.NewCheckedAllocator(memory.DefaultAllocator))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if b.Record.NumRows() != 3 || len(b.Rejects) != 2 {
		t.Fatalf("invoices = %d rows, %d rejects (%v); want 3 and 2", b.Record.NumRows(), len(b.Rejects), b.Rejects)
	}
	for _, rj := range b.Rejects {
		want := map[string]string{
			"10": `ticket_invoice_lines line 2: column price: "1,234.50" is not a plain decimal`,
			"11": `ticket_invoice_payments line 1: payments[0] is "cash", not an object`,
		}[rj.Key]
		if want == "" || !strings.Contains(rj.Reason, want) {
			t.Errorf("reject %s: %q, want it to contain %q", rj.Key, rj.Reason, want)
		}
	}
	if x := row(t, b.Record, 0)["_extra"]; x != nil {
		t.Errorf("invoice 7 _extra = %v; the arrays belong to the child tables", x)
	}
	if len(b.Children) != 2 {
		t.Fatalf("children = %d, want lines and payments", len(b.Children))
	}
	lines, pays := b.Children[0], b.Children[1]
	if lines.Table.Name != "ticket_invoice_lines" || pays.Table.Name != "ticket_invoice_payments" {
		t.Fatalf("children = %s, %s", lines.Table.Name, pays.Table.Name)
	}
	// Invoice 8 has no arrays (a list record): its stored lines must stay.
	if fmt.Sprint(lines.Parents) != "[7 9]" || fmt.Sprint(pays.Parents) != "[7]" {
		t.Errorf("parents replaced: lines %v, payments %v; want [7 9] and [7]", lines.Parents, pays.Parents)
	}
	if pays.Record.NumRows() != 0 {
		t.Errorf("payments = %d rows, want 0 (invoice 7 has none, invoice 10 is rejected whole)", pays.Record.NumRows())
	}
	if lines.Record.NumRows() != 3 {
		t.Fatalf("lines = %d rows, want 3", lines.Record.NumRows())
	}
	for i, want := range []map[string]any{
		{"ticket_invoice_id": "7", "line_no": "1", "id": "1", "price": "249.99", "total": "249.99", "quantity": "1.0000",
			"created_date": time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC), "_extra": `{"warranty_days":90}`, "account": "north"},
		{"ticket_invoice_id": "7", "line_no": "2", "quantity": "1.0000", "price": "10.00", "total": "10.00", "_extra": nil},
		{"ticket_invoice_id": "9", "line_no": "1", "id": nil, "name": "Battery", "price": "45.50"},
	} {
		got := row(t, lines.Record, i)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("line %d %s = %#v, want %#v", i, k, got[k], v)
			}
		}
	}
	if lines.Drift["warranty_days"] != "90" {
		t.Errorf("line drift = %v; want warranty_days recorded for the child table", lines.Drift)
	}
}

func TestDriftExamplesHideNestedSecrets(t *testing.T) {
	long := strings.Repeat("é", 100)
	b, err := Page(mgr.TicketsTable, []byte(`[{"id":1,"created_date":"2026-01-02T03:04:05Z",
		"custom_fields":{"device_pin":"1234","colour":"red","owner":{"passcode":"0000"}},"notes":"`+long+`",
		"invoice":{"last_payment_date":{}}}]`), meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if got := b.Drift["custom_fields"]; strings.Contains(got, "1234") || strings.Contains(got, "0000") || !strings.Contains(got, `"colour":"red"`) {
		t.Errorf("drift example = %s; want the pin and passcode redacted, the colour kept", got)
	}
	if got := b.Drift["notes"]; !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("long example = %q; want valid UTF-8, cut with …", got)
	}
	// An object where a timestamp is declared is NULL, not a reject.
	if len(b.Rejects) != 0 || b.Record.NumRows() != 1 || row(t, b.Record, 0)["invoice_last_payment_date"] != nil {
		t.Errorf("rejects %v, row %v", b.Rejects, row(t, b.Record, 0))
	}
	// The raw record keeps what it had: _extra is the data, not an example.
	if x := row(t, b.Record, 0)["_extra"].(string); !strings.Contains(x, `"device_pin":"1234"`) {
		t.Errorf("_extra = %s", x)
	}
}

func TestParseDecimalScale4(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want int64
		err  string
	}{
		{json.Number("8.875"), 88750, ""},
		{"1.5", 15000, ""},
		{json.Number("3"), 30000, ""},
		{"0.00005", 0, "more than 4 decimal places"},
		{"ten", 0, "not a plain decimal"},
	} {
		got, err := parseDecimal(tt.in, schema.DecimalPrecision, schema.DecimalScale)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseDecimal(%v) = %d, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDecimal(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// A FromRequest column takes the page's value; a page without one is a
// programming error reported per record, never a silent NULL key.
func TestFixedColumnsComeFromTheRequest(t *testing.T) {
	page := []byte(`[{"id":1,"name":"Passcode","type":"dropdown","options":["yes","no"]}]`)
	meta := Meta{Account: "north", RunID: "r", ExtractedAt: time.Now(), Fixed: map[string]string{"type": "tickets"}}
	b, err := Page(mgr.CustomFieldsTable, page, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if len(b.Rejects) > 0 || b.Record.NumRows() != 1 {
		t.Fatalf("rejects %v, rows %d", b.Rejects, b.Record.NumRows())
	}
	got := row(t, b.Record, 0)
	if got["type"] != "tickets" || got["field_type"] != "dropdown" || got["options"] != `["yes","no"]` {
		t.Errorf("row = %v; want type from the request, the record's type as field_type", got)
	}
	meta.Fixed = nil
	b2, err := Page(mgr.CustomFieldsTable, page, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Release()
	if len(b2.Rejects) != 1 || !strings.Contains(b2.Rejects[0].Reason, "column type") {
		t.Errorf("rejects = %v; want one naming column type", b2.Rejects)
	}
}

// A RepairOps ticket detail: arrays and single objects both become child
// lines, the detail's nested spellings fill the list's columns.
func TestRepairOpsTicketDetail(t *testing.T) {
	page := `[{"id":"t-1","number":"T001234","status":"IN_REPAIR",
	  "customer":{"id":"c-1","name":"John Doe","email":"john@example.com","phone":"555-0123"},
	  "device":{"identifier":"iPhone 14 Pro","category":"smartphone","description":"Blue, 256GB"},
	  "issue":{"description":"Cracked screen","category":"physical_damage","severity":"high"},
	  "timeline":[{"status":"INTAKE","timestamp":"2026-02-15T10:30:00Z","actor":"John Doe (customer)"},
	              {"status":"IN_REPAIR","timestamp":"2026-02-16T09:00:00+01:00","actor":"Alice Tech"}],
	  "diagnostics":{"findings":"Screen is damaged","estimated_cost":259.99,"recommended_parts":["Screen","Digitizer"]},
	  "labor":{"hours":1.5,"rate":65.00,"total":97.50},
	  "parts":[{"name":"Screen","quantity":1,"unit_cost":80.00,"total":80.00}],
	  "total_cost":177.50,"created_at":"2026-02-15T10:30:00Z","updated_at":"2026-02-20T14:15:00Z"}]`
	b, err := Page(repairops.TicketsTable, []byte(page), Meta{Account: "ro", RunID: "r", ExtractedAt: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if len(b.Rejects) > 0 || b.Record.NumRows() != 1 {
		t.Fatalf("rejects %v, rows %d", b.Rejects, b.Record.NumRows())
	}
	got := row(t, b.Record, 0)
	for col, want := range map[string]any{"customer_id": "c-1", "customer_name": "John Doe", "customer_email": "john@example.com",
		"device_identifier": "iPhone 14 Pro", "issue_description": "Cracked screen", "issue_severity": "high",
		"labor_cost": "97.50", "total_cost": "177.50", "parts_cost": nil, "_extra": nil} {
		if got[col] != want {
			t.Errorf("tickets.%s = %v, want %v", col, got[col], want)
		}
	}
	lines := map[string]int64{}
	for _, k := range b.Children {
		lines[k.Table.Name] = k.Record.NumRows()
		if len(k.Parents) != 1 || k.Parents[0] != "t-1" {
			t.Errorf("%s parents = %v", k.Table.Name, k.Parents)
		}
	}
	if want := map[string]int64{"ticket_timeline": 2, "ticket_parts": 1, "ticket_labor": 1, "ticket_diagnostics": 1}; !maps.Equal(lines, want) {
		t.Errorf("child rows = %v, want %v", lines, want)
	}
	labor := row(t, b.Children[2].Record, 0)
	if labor["hours"] != "1.5000" || labor["rate"] != "65.00" || labor["line_no"] != "1" || labor["ticket_id"] != "t-1" {
		t.Errorf("labor = %v", labor)
	}
	diag := row(t, b.Children[3].Record, 0)
	if diag["recommended_parts"] != `["Screen","Digitizer"]` || diag["estimated_cost"] != "259.99" {
		t.Errorf("diagnostics = %v", diag)
	}
	if ts := row(t, b.Children[0].Record, 1)["timestamp"]; ts != time.Date(2026, 2, 16, 8, 0, 0, 0, time.UTC) {
		t.Errorf("timeline[1].timestamp = %v, want 08:00 UTC", ts)
	}
}

// KPI measures are computed statistics: rounded to the scale, not
// rejected. shop_id comes from the record, else from the request.
func TestKPIRowsRoundAndTakeTheirShop(t *testing.T) {
	page := `[{"date":"2026-02-20","revenue":3450.0000000001,"throughput":12,"avg_turnaround_days":2.333333333,
	  "qc_pass_rate":0.95238095,"customer_satisfaction":4.7,"labor_margin":0.35,"parts_margin":0.48},
	 {"date":"2026-02-21","shop_id":"s-9","revenue":"10.005","throughput":1}]`
	b, err := Page(repairops.KPIDailyTable, []byte(page), Meta{Account: "ro", RunID: "r", ExtractedAt: time.Now(), Fixed: map[string]string{"shop_id": "s-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if len(b.Rejects) > 0 || b.Record.NumRows() != 2 {
		t.Fatalf("rejects %v, rows %d", b.Rejects, b.Record.NumRows())
	}
	r0, r1 := row(t, b.Record, 0), row(t, b.Record, 1)
	if r0["shop_id"] != "s-1" || r0["revenue"] != "3450.00" || r0["avg_turnaround_days"] != "2.3333" || r0["qc_pass_rate"] != "0.9524" {
		t.Errorf("row 0 = %v", r0)
	}
	if r1["shop_id"] != "s-9" || r1["revenue"] != "10.01" {
		t.Errorf("row 1 = %v; want the record's own shop and revenue rounded half away from zero", r1)
	}
}
