package mgr

import (
	"encoding/json"
	"testing"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/rest"
)

// FuzzDecode reads any bytes as MGR answers: a list page, the same page
// archived and decoded for a resource with a detail and one without, a
// detail, and an error body. Nothing panics; a page is an array of JSON
// records or an error; a garbled success is named as such, never taken
// for an empty page.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[]`, `[{"id": 1, "summary": "Screen"}]`, `null`, ``, `{"error": "Rate limit exceeded. Try again in a minute"}`, `<html>`, `[{"id": 1}, {"id": 1}]`, `{"id": 7, "line_items": [{"id": 1}]}`, `[1, "x", null, {}]`} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, dropped uint8) {
		items, err := decodeList(body)
		if err == nil {
			for _, it := range items {
				if !json.Valid(it) {
					t.Fatalf("%q: an item that is not JSON: %q", body, it)
				}
			}
		}
		if why, _ := rest.Garbled(body); why == "" && err == nil && items == nil && len(body) > 0 {
			t.Fatalf("%q: neither garbled nor a list, yet decoded as no records", body)
		}
		for _, res := range []string{"ticketInvoices", "customers"} {
			for _, kind := range []string{archive.KindList, archive.KindDetail} {
				e := archive.Entry{Resource: res, Kind: kind, Body: json.RawMessage(body), Dropped: []int{int(dropped % 4)}}
				d, err := decode(e)
				if err == nil && d.Records != nil && !json.Valid(d.Records) {
					t.Fatalf("%s %s %q: records that are not JSON: %q", res, kind, body, d.Records)
				}
			}
		}
		errorMessage(body)
	})
}
