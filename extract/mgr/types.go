package mgr

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
	// earlier in the same listing (the API's loose ordering repeats some).
	Records json.RawMessage
	Count   int // records in Records
	Dupes   int // records on the page dropped as already seen
	// Dropped are the positions in Body's array of the records left out of
	// Records as already seen, so that the archived body replays exactly.
	Dropped   []int
	FetchedAt time.Time
	// Next is the offset the following page starts at, and Last is set on
	// the listing's final page: together, where a resumed listing goes on.
	Next int
	Last bool
}

// APIError is a response other than 200/201. MGR's error body is
// {"error":"message"}; Message holds that text when present.
type APIError struct {
	Method, Path string // path and query, never the key
	Status       int
	Message      string
	// RateLimited is set when the response is the rate-limit error,
	// recognised by status or message (the docs give no status code).
	RateLimited bool
	// Blocked is set when the key or IP is blocked (after ignored rate-limit errors).
	Blocked bool
}

func (e *APIError) Error() string {
	kind := ""
	switch {
	case e.Blocked:
		kind = " (key/IP blocked)"
	case e.RateLimited:
		kind = " (rate limited)"
	}
	msg := e.Message
	if msg == "" {
		msg = "no error message"
	}
	return fmt.Sprintf("mgr: %s %s: HTTP %d%s: %s", e.Method, e.Path, e.Status, kind, msg)
}
