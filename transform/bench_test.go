package transform

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/repairshop/export/extract/mgr"
)

// BenchmarkPageTickets measures transform throughput on MGR-shaped pages of 50.
func BenchmarkPageTickets(b *testing.B) {
	var recs []string
	for i := 0; i < 50; i++ {
		recs = append(recs, fmt.Sprintf(`{"id":%d,"ticket_ref":"N-%05d","description":"Apple iPhone 13 - Cracked screen","created_date":"2026-07-16T10:00:00-0600","last_updated":"2026-07-17T10:00:00-0600","status":{"id":101,"label":"In Progress"},"issue_type":{"id":200,"label":"Cracked screen"},"customer":{"id":"c000123","name":"Alex Smith"},"device":{"brand":"Apple","model":"iPhone 13","imei":"350000000000001"},"technician":{"id":11,"first_name":"Dana","last_name":"Whitfield","email":"dana@x"},"invoice":{"id":"inv-1","number":"INV-1","last_payment_date":"2026-07-18T10:00:00-0600"},"source":"web"}`, i, i))
	}
	page := []byte("[" + strings.Join(recs, ",") + "]")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		bt, err := Page(mgr.TicketsTable, page, meta, nil)
		if err != nil || bt.Record.NumRows() != 50 {
			b.Fatal(err)
		}
		bt.Release()
	}
	b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPageInvoices measures transform throughput on MGR invoice
// details: a parent row and its lines and payments (child tables).
func BenchmarkPageInvoices(b *testing.B) {
	var recs []string
	for i := 0; i < 50; i++ {
		recs = append(recs, fmt.Sprintf(`{"id":"%[1]d","invoice_number":"INV-%[1]05d","created_date":"2026-08-03T10:00:00-0600","status":"Paid","amount_subtotal":"100.00","amount_tax":"8.88","amount_total":"108.88","amount_paid":"108.88","amount_due":"0.00",
			"line_items":[{"id":"%[1]d-1","name":"Screen","quantity":"1","price":"80.00","total":"80.00"},{"id":"%[1]d-2","name":"Labour","quantity":"0.5","price":"40.00","total":"20.00"}],
			"payments":[{"id":"%[1]d-p","amount":"108.88","method":"Card","date":"2026-08-03T11:00:00-0600"}],"ticket":{"ticket_ref":"N-%[1]05d"}}`, i))
	}
	page := []byte("[" + strings.Join(recs, ",") + "]")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		bt, err := Page(mgr.TicketInvoicesTable, page, meta, nil)
		if err != nil || bt.Record.NumRows() != 50 || bt.Children[0].Record.NumRows() != 100 {
			b.Fatal(err)
		}
		bt.Release()
	}
	b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkParseDecimal measures the exact decimal reader on the values
// money columns see: JSON numbers and numeric strings.
func BenchmarkParseDecimal(b *testing.B) {
	vals := []any{json.Number("259.99"), "108.88", json.Number("0.5"), "1234567.89", json.Number("259.99000000000001")}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, v := range vals {
			if _, err := parseMoney(v); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "values/s")
}

// BenchmarkParseTimestamp measures the instant reader on the sources'
// layouts (MGR's offset without a colon, RFC 3339 UTC), a page at a time.
func BenchmarkParseTimestamp(b *testing.B) {
	vals := []any{"2026-07-16T10:00:00-0600", "2026-07-17T11:30:00-0600", "2026-02-15T10:30:00Z", "2026-02-16T09:00:00Z"}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, v := range vals {
			if _, err := parseTimestamp(v); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "values/s")
}
