package repairops

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// FuzzDecode reads any bytes as RepairOps answers at any offset: a list
// page, the records a run archived of it, a detail, an error envelope, and
// the check that an empty page is not taken for the end while the API
// counts more. Nothing panics; a decoded page's records are JSON and its
// next offset never goes backwards.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"data": [{"id": "t1"}], "pagination": {"offset": 0, "limit": 50, "total": 1, "next_offset": null, "has_more": false}}`,
		`{"data": null, "pagination": {"offset": 50, "limit": 50, "total": 60, "next_offset": 100, "has_more": true}}`,
		`[{"id": "t1"}]`, `{"data": {"id": "t1"}}`, `{"id": "t1", "timeline": []}`, `null`, ``,
		`{"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Too many requests", "details": {"reset": 1795168800}}}`,
		`{"data": [], "pagination": {"next_offset": -5, "has_more": true}}`,
	} {
		f.Add([]byte(s), uint16(0), uint16(50))
	}
	f.Fuzz(func(t *testing.T, body []byte, offset, limit uint16) {
		lp, err := decodeList(body, int(offset), int(limit)+1)
		if err == nil {
			for _, it := range lp.items {
				if !json.Valid(it) {
					t.Fatalf("%q: an item that is not JSON: %q", body, it)
				}
			}
			if lp.next < int(offset) {
				t.Fatalf("%q at offset %d: next offset %d goes backwards", body, offset, lp.next)
			}
		}
		for _, detail := range []bool{false, true} {
			if recs, err := Records(body, detail, []int{0}); err == nil && !json.Valid(recs) {
				t.Fatalf("%q (detail %v): records that are not JSON: %q", body, detail, recs)
			}
		}
		decodeRecord(body)
		decodeError(body)
		req := &http.Request{URL: &url.URL{RawQuery: url.Values{"offset": {string(rune('0' + offset%10))}}.Encode()}}
		emptyTooSoon(body, req)
	})
}
