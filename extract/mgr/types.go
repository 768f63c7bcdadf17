package mgr

import (
	"errors"
	"fmt"
	"time"

	"github.com/repairshop/export/extract/rest"
)

// Errors callers branch on with errors.Is.
var (
	// ErrAuth means the key was refused before it ever worked: fix the key.
	ErrAuth = errors.New("mgr: API key refused")
	// ErrRateBudget means the run stopped on this key at a rate-limit
	// signal, to avoid a block; the next run resumes.
	ErrRateBudget = errors.New("mgr: rate limit persisted; stopped to avoid a block")
	// ErrBlocked means the vendor has blocked the key/IP (six hours).
	ErrBlocked = errors.New("mgr: key or IP blocked by the API")
	// ErrRunBudget means the run's own cap (--max-requests, --max-duration)
	// is spent; nothing went wrong and the next run continues.
	ErrRunBudget = rest.ErrRunBudget
)

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

// HTTPStatus is the answer's status (extract.StatusError).
func (e *APIError) HTTPStatus() int { return e.Status }

// Reset is zero: MGR's documents name no reset (extract.StatusError).
func (e *APIError) Reset() time.Time { return time.Time{} }
