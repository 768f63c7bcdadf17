package transform

import (
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
