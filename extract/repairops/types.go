package repairops

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/repairshop/export/extract/paging"
	"github.com/repairshop/export/extract/rest"
)

// Errors callers branch on with errors.Is.
var (
	// ErrAuth means the key was refused (401) or lacks the scope (403).
	ErrAuth = errors.New("repairops: API key refused")
	// ErrQuota means the key's hourly quota, less the reserve, is spent and
	// the run cannot wait for the reset; the next run resumes.
	ErrQuota = errors.New("repairops: the key's hourly quota is spent")
	// ErrRunBudget means the run's own cap (--max-requests, --max-duration)
	// is spent; nothing went wrong and the next run continues.
	ErrRunBudget = rest.ErrRunBudget
	// StopListing, returned by a List callback, ends the listing without error.
	StopListing = paging.Stop
)

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

// HTTPStatus is the answer's status (extract.StatusError).
func (e *APIError) HTTPStatus() int { return e.Status }

// Reset is when the API said to come back, zero if it did not
// (extract.StatusError).
func (e *APIError) Reset() time.Time { return e.RetryAfter }
