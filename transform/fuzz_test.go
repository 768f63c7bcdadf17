package transform

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/schema"
)

// pageTables are the tables pages are transformed into (children are filled
// from their parents' pages).
func pageTables() []*schema.Table {
	var out []*schema.Table
	for _, t := range sources.Tables() {
		if !t.IsChild() {
			out = append(out, t)
		}
	}
	return out
}

// FuzzPage transforms any bytes as a page of any declared table: it never
// panics, never leaks Arrow memory, and either refuses the page (not a
// JSON array) or accounts for every record as a row or a reject with a
// reason. The seeds in testdata/fuzz/FuzzPage are real pages of both
// simulators, one per table.
func FuzzPage(f *testing.F) {
	tables := pageTables()
	for i := range tables {
		f.Add(uint8(i), []byte(`[{"id": 1}, {"id": "2", "created_at": "2026-13-01"}, 7, null]`))
	}
	f.Add(uint8(0), []byte(`[{"id": 1, "x": `+strings.Repeat("[", MaxRecordDepth)+strings.Repeat("]", MaxRecordDepth)+`}]`))
	meta := Meta{Account: "fuzz", RunID: "20261130T000000.000Z-fuzz", ExtractedAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Fixed: map[string]string{"type": "tickets"}}
	f.Fuzz(func(t *testing.T, which uint8, page []byte) {
		tb := tables[int(which)%len(tables)]
		mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
		defer mem.AssertSize(t, 0)
		b, err := Page(tb, page, meta, mem)
		if err != nil {
			if !strings.Contains(err.Error(), "not a JSON array") {
				t.Fatalf("%s: an error that does not say what is wrong with the page: %v", tb.FullName(), err)
			}
			return
		}
		defer b.Release()
		var recs []json.RawMessage
		if json.Unmarshal(page, &recs) == nil && int(b.Record.NumRows())+len(b.Rejects) != len(recs) {
			t.Fatalf("%s: %d records in, %d rows and %d rejects out", tb.FullName(), len(recs), b.Record.NumRows(), len(b.Rejects))
		}
		for _, r := range b.Rejects {
			if r.Reason == "" || len(r.Raw) == 0 {
				t.Fatalf("%s: a reject without its reason or its record: %+v", tb.FullName(), r)
			}
		}
	})
}

// FuzzParseTimestamp: any text is an instant in UTC or an error, and the
// same whichever layout was tried first (the layouts must never overlap,
// or a page's earlier values would change how later ones read).
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2026-07-16T10:00:00-0600", "2026-02-15T10:30:00Z", "2026-02-15 10:30:00", "15-Feb-2026 10:30", "0000-00-00 00:00:00", "2026-02-30T10:00:00Z", "1795168800", "", "2026-07-16T10:00:00.123456789+05:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var first time.Time
		var firstErr error
		for i := range timeLayouts {
			lastLayout.Store(int32(i))
			got, err := parseTimestamp(s)
			if i == 0 {
				first, firstErr = got, err
				if err == nil && got.Location() != time.UTC {
					t.Fatalf("%q read as %v, not in UTC", s, got)
				}
				continue
			}
			if (err == nil) != (firstErr == nil) || !got.Equal(first) {
				t.Fatalf("%q reads as %v (%v) with layout %d first, %v (%v) with layout 0 first", s, got, err, i, first, firstErr)
			}
		}
		if firstErr == nil {
			back, err := parseTimestamp(first.Format(time.RFC3339Nano))
			if err != nil || !back.Equal(first) {
				t.Fatalf("%q → %v, printed back and read again → %v, %v", s, first, back, err)
			}
		}
	})
}
