package repairops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/repairshop/export/extract/listing"
	"github.com/repairshop/export/extract/rest"
)

// This file is the one place that knows how RepairOps v1 pages and wraps
// its answers: limit/offset, {data, pagination{offset, limit, total,
// next_offset, has_more}} and {"error":{code, message, details}}. The
// vendor has published a second contract (page/per_page, {ok, data, meta},
// 100 requests a minute); it will be a second implementation of these
// functions, chosen per account, leaving the client's pacing, retries and
// queue untouched.

// listPage is one decoded list response.
type listPage struct {
	items []json.RawMessage
	total int // -1: not said
	next  int // offset of the following page
	more  bool
	// paged: the answer carried a pagination object, so more is the
	// server's word rather than a guess from a full page.
	paged bool
}

// pageParams sets the paging parameters of one list request.
func pageParams(p url.Values, offset, limit int) {
	p.Set("limit", strconv.Itoa(limit))
	p.Set("offset", strconv.Itoa(offset))
}

// decodeList reads a list response asked at offset with limit. It accepts
// the documented envelope and, liberally, a bare array or an envelope
// without pagination (then a short page ends the listing).
func decodeList(body []byte, offset, limit int) (listPage, error) {
	body = bytes.TrimSpace(body)
	lp := listPage{total: -1}
	if len(body) > 0 && body[0] == '[' {
		var err error
		if lp.items, err = listing.SplitArray(body); err != nil {
			return lp, fmt.Errorf("response is not a JSON array: %w", err)
		}
		lp.next, lp.more = offset+len(lp.items), len(lp.items) >= limit
		return lp, nil
	}
	var env struct {
		Data       json.RawMessage `json:"data"`
		Pagination *struct {
			Offset     *int  `json:"offset"`
			Limit      *int  `json:"limit"`
			Total      *int  `json:"total"`
			NextOffset *int  `json:"next_offset"`
			HasMore    *bool `json:"has_more"`
		} `json:"pagination"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return lp, fmt.Errorf("response is not the list envelope {data, pagination}: %w", err)
	}
	switch d := bytes.TrimSpace(env.Data); {
	case len(d) == 0:
		return lp, fmt.Errorf("response has no data array: %s", rest.Snippet(body))
	case string(d) == "null":
		// An empty result serialised from a nil list: nothing here.
	default:
		var err error
		if lp.items, err = listing.SplitArray(d); err != nil {
			return lp, fmt.Errorf("response's data is not an array: %s", rest.Snippet(d))
		}
	}
	lp.next = offset + len(lp.items)
	pg := env.Pagination
	if pg == nil {
		lp.more = len(lp.items) >= limit
		return lp, nil
	}
	lp.paged = true
	if pg.Limit != nil && *pg.Limit > 0 && *pg.Limit < limit {
		limit = *pg.Limit // the server capped the page size: a full page is its limit
	}
	if pg.Total != nil {
		lp.total = *pg.Total
	}
	if pg.NextOffset != nil && *pg.NextOffset > offset {
		lp.next = *pg.NextOffset
	}
	switch {
	case pg.HasMore != nil:
		lp.more = *pg.HasMore
	case pg.NextOffset != nil:
		lp.more = *pg.NextOffset > offset && (lp.total < 0 || *pg.NextOffset < lp.total)
	case lp.total >= 0:
		lp.more = lp.next < lp.total
	default:
		lp.more = len(lp.items) >= limit
	}
	if len(lp.items) == 0 {
		lp.more = false // nothing here: whatever the flags say, nothing follows
	}
	return lp, nil
}

// emptyTooSoon says why a list page without records cannot be right ("":
// it can be): the API counts more records than the offset asked, so the
// page should have held some. Taking it for the end would cut the listing
// short, and the records past it would look deleted. Only a small body
// is looked at: a page with records is never empty.
func emptyTooSoon(body []byte, req *http.Request) string {
	if len(body) > 1024 || req == nil || !bytes.Contains(body, []byte(`"pagination"`)) {
		return ""
	}
	offset, _ := strconv.Atoi(req.URL.Query().Get("offset"))
	lp, err := decodeList(body, offset, 1)
	if err != nil || len(lp.items) > 0 || lp.total <= offset {
		return ""
	}
	return fmt.Sprintf("the page at offset %d holds no records, yet the API counts %d: %s", offset, lp.total, rest.Snippet(body))
}

// decodeRecord reads a detail response: the record object, or (liberally)
// {data: {...}} around it. It returns the record itself.
func decodeRecord(body []byte) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("response is not a JSON object: %w", err)
	}
	if d, ok := obj["data"]; ok && len(obj) <= 3 && obj["id"] == nil {
		if t := bytes.TrimSpace(d); len(t) > 0 && t[0] == '{' {
			return t, nil
		}
	}
	return bytes.TrimSpace(body), nil
}

// Records returns the JSON array of records a run used from an archived
// response: a list body's data without the dropped positions, or a detail
// body's record in an array. `repairshop-export rebuild` replays bodies through it.
func Records(body []byte, detail bool, dropped []int) (json.RawMessage, error) {
	if detail {
		rec, err := decodeRecord(body)
		if err != nil {
			return nil, err
		}
		return append(append(json.RawMessage{'['}, rec...), ']'), nil
	}
	lp, err := decodeList(body, 0, 1)
	if err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	for _, i := range dropped {
		drop[i] = true
	}
	kept := make([]json.RawMessage, 0, len(lp.items))
	for i, it := range lp.items {
		if !drop[i] {
			kept = append(kept, it)
		}
	}
	return json.Marshal(kept)
}

// decodeError reads the error envelope; code is "" when the body is not one.
func decodeError(body []byte) (code, message string, details json.RawMessage) {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Error) == 0 {
		return "", rest.Snippet(body), nil
	}
	var e struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	if json.Unmarshal(env.Error, &e) != nil {
		var s string
		if json.Unmarshal(env.Error, &s) == nil {
			return "", s, nil
		}
		return "", string(env.Error), nil
	}
	if e.Message == "" {
		e.Message = "no error message"
	}
	return e.Code, e.Message, e.Details
}
