package repairops

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// Page is one successful list or detail response, as fetched.
type Page struct {
	Resource string     // e.g. "tickets"
	Params   url.Values // query parameters sent (never the key)
	Body     []byte     // the response body exactly as received, for the raw archive
	// Records is a JSON array of the records on this page not already seen
	// earlier in the same listing (records that moved while the client
	// paged, e.g. by a sort on updated_at, come round twice).
	Records json.RawMessage
	Count   int // records in Records
	Dupes   int // records on the page dropped as already seen
	// Dropped are the positions in the body's data array of the records
	// left out of Records, so that the archived body replays exactly.
	Dropped   []int
	FetchedAt time.Time
	// Total is the listing's size as the API reported it (-1: not said).
	Total int
	// Next is the offset the following page starts at, and Last is set on
	// the listing's final page.
	Next int
	Last bool
}

// APIError is a response other than 2xx, with RepairOps's error envelope
// {"error":{"code","message","details"}} as received (the key redacted).
type APIError struct {
	Method, Path string // path and query, never the key
	Status       int
	Code         string          // e.g. RATE_LIMIT_EXCEEDED; "" when the body had no envelope
	Message      string          // the envelope's message, or a snippet of the body
	Details      json.RawMessage // the envelope's details, verbatim; nil if none
	// RetryAfter is when the API said to come back (Retry-After, else
	// X-RateLimit-Reset on a 429); zero if it did not say.
	RetryAfter time.Time
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = "no error code"
	}
	s := fmt.Sprintf("repairops: %s %s: HTTP %d %s: %s", e.Method, e.Path, e.Status, code, e.Message)
	if len(e.Details) > 0 && string(e.Details) != "null" {
		s += " (details: " + string(e.Details) + ")"
	}
	return s
}

// RateLimited reports whether the error is the quota's 429.
func (e *APIError) RateLimited() bool {
	return e.Status == 429 || e.Code == "RATE_LIMIT_EXCEEDED"
}

// Quota is the key's hourly quota as the last response's X-RateLimit-*
// headers gave it.
type Quota struct {
	Known     bool // false until a response carried the headers
	Limit     int
	Remaining int
	Reset     time.Time
}
