package mgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/paging"
	"github.com/repairshop/export/extract/rest"
)

// Documented limits.
const (
	DefaultRequestsPerMinute = 30
	PageSize                 = 50
	// MinCooldown is the silence after a rate-limit signal the vendor asks for.
	MinCooldown = time.Minute
)

// Page is one successful list or detail response, as fetched.
type Page = extract.Page

// Option configures a Client: the options are package rest's, shared by
// every client (rest.WithBaseURL, rest.WithClock, rest.WithRateLimit, …).
type Option = rest.Option

// Client talks to one shop's API key. It is safe for concurrent use; all
// requests on the key share one pacing bucket.
type Client struct {
	http *rest.Client

	// spelling is, per resource with several documented spellings, the
	// one this server answers to (learnt from a 404 on the other).
	mu       sync.Mutex
	spelling map[string]string
}

// NewClient returns a client for one API key.
func NewClient(key string, opts ...Option) (*Client, error) {
	if key == "" {
		return nil, fmt.Errorf("%w: empty key", ErrAuth)
	}
	c := &Client{spelling: map[string]string{}}
	defaults := rest.Settings{
		BaseURL: "https://api.mygadgetrepairs.com/v1",
		Limit:   DefaultRequestsPerMinute, Per: time.Minute, Cooldown: MinCooldown,
		Retries: 4, Backoff: 2 * time.Second, Timeout: 60 * time.Second,
	}
	rules := rest.Rules{
		Name:      "mgr",
		Authorize: func(h http.Header) { h.Set("Authorization", key) },
		Check: func(resp *http.Response, body []byte, shown string) error {
			return check(resp, body, shown, c.http.Redact)
		},
		Retry: c.shouldRetry,
	}
	var err error
	c.http, err = rest.New(key, defaults, opts, rules, func(s rest.Settings) (int, time.Duration, float64) { return s.Limit, s.Per, s.Headroom })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CoolingUntil is the end of the key's current rate-limit silence, whoever
// recorded it (zero if none).
func (c *Client) CoolingUntil() time.Time { return c.http.CoolingUntil() }

// Requests is the number of HTTP requests sent so far, failures included.
func (c *Client) Requests() int64 { return c.http.Requests() }

// maxRateSignals is how many rate-limit signals the client takes before
// giving up on the key for this run. One: the signal is recorded with a
// full minute of silence (in the ledger, for every process on the key) and
// the account stops, so a second strike cannot follow, let alone the ten
// that block the key and the shop's IP for six hours.
const maxRateSignals = 1

// maxEmptyPages stops a listing whose full pages bring nothing new, which
// means the server is not honouring offset.
const maxEmptyPages = 3

// Overlap is how many records each page after the first re-reads from the
// end of the previous one. The live API's ordering is loose and records
// are inserted while a client pages, so neighbours across a page boundary
// can trade places or shift by one; re-reading the boundary (and
// deduplicating by id) catches them, for 2 records in 50.
const Overlap = 2

// maxStepBacks bounds how often one listing steps back a page when a page
// does not start inside what was already seen (records moved by more than
// the overlap).
const maxStepBacks = 3

// List pages through a list resource by offset until a short page, calling
// fn with each page's new records. Records are deduplicated by id across the
// listing, because the API's ordering is loose; records without an id are
// passed on (transform quarantines them) rather than dropped.
func (c *Client) List(ctx context.Context, res Resource, fn func(Page) error) error {
	return c.ListFrom(ctx, res, 0, fn)
}

// ListFrom is List starting at an offset, to resume an interrupted listing
// (start a page before where it stopped: records may have shifted). The
// loop and its guards are package paging's; a short lookup list
// (Reference) served whole whatever the offset is complete.
func (c *Client) ListFrom(ctx context.Context, res Resource, start int, fn func(Page) error) error {
	return paging.Walk{
		API: "mgr", Resource: res.Name, Start: start, PageSize: PageSize,
		Overlap: Overlap, MaxStepBacks: maxStepBacks, MaxEmptyPages: maxEmptyPages,
		WholeWhenRepeated: res.Reference,
		// Every MGR listing reads to its end (its callbacks never stop
		// one), so the next page is asked for while this one is decoded.
		Ahead: true,
		Log:   c.http.Log, Now: c.http.Clock.Now,
		Fetch: func(ctx context.Context, offset int) (paging.Answer, error) {
			params := rest.Params(res.Params)
			params.Set("limit", strconv.Itoa(PageSize))
			params.Set("offset", strconv.Itoa(offset))
			body, err := c.list(ctx, res, params)
			if err != nil {
				return paging.Answer{}, err
			}
			items, err := decodeList(body)
			if err != nil {
				return paging.Answer{}, err
			}
			return paging.Answer{Params: params, Body: body, Items: items, Total: -1, Next: offset + len(items), More: len(items) >= PageSize}, nil
		},
	}.Run(ctx, fn)
}

// list fetches one page of res, under the spelling the server answers to.
func (c *Client) list(ctx context.Context, res Resource, params url.Values) ([]byte, error) {
	return c.spelt(ctx, res.Name, res.ListPaths(), "", params)
}

// Get fetches one record, e.g. Get(ctx, "tickets", "1001").
func (c *Client) Get(ctx context.Context, resource, id string) (Page, error) {
	paths := []string{resource}
	if r, ok := Lookup(resource); ok {
		paths = r.DetailPaths()
	}
	body, err := c.spelt(ctx, resource+"/", paths, "/"+url.PathEscape(id), nil)
	if err != nil {
		return Page{}, fmt.Errorf("mgr: get %s/%s: %w", resource, id, err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return Page{}, fmt.Errorf("mgr: get %s/%s: response is not a JSON object: %w", resource, id, err)
	}
	return Page{Resource: resource, Body: body, Records: append(append([]byte{'['}, body...), ']'), Count: 1, Total: 1, FetchedAt: c.http.Clock.Now(), Last: true}, nil
}

// spelt requests the first of paths (+suffix) the server is known to
// answer to. The vendor's page spells some endpoints two ways (the heading
// /ticketInvoices, the example URLs /ticketsInvoices and
// /ticketinvoices/{id}); until one has answered, a 404 is asked again in
// the next spelling, and the one that answers is used from then on (and
// said once in the log). A 404 in every spelling is the API's 404.
func (c *Client) spelt(ctx context.Context, key string, paths []string, suffix string, params url.Values) ([]byte, error) {
	c.mu.Lock()
	known, ok := c.spelling[key]
	c.mu.Unlock()
	if ok {
		return c.http.Get(ctx, known+suffix, params)
	}
	var first error
	for i, p := range paths {
		body, err := c.http.Get(ctx, p+suffix, params)
		if err == nil {
			c.mu.Lock()
			if _, said := c.spelling[key]; !said && i > 0 {
				c.http.Log.Warn("mgr: the endpoint answers under another of the spellings the vendor's page uses; using it from now on", "tried", "/"+paths[0]+suffix, "answers", "/"+p+suffix)
			}
			c.spelling[key] = p
			c.mu.Unlock()
			return body, nil
		}
		if first == nil {
			first = err
		}
		if !IsNotFound(err) {
			return nil, err
		}
	}
	return nil, first
}

// Probe sizes a list without reading it: it asks for one record at each
// offset (paced like any request) and reports whether the list holds
// more than offset records.
func (c *Client) Probe(ctx context.Context, res Resource, offset int) (bool, error) {
	params := rest.Params(res.Params)
	params.Set("limit", "1")
	params.Set("offset", strconv.Itoa(offset))
	body, err := c.list(ctx, res, params)
	if err != nil {
		return false, fmt.Errorf("mgr: probe %s at offset %d: %w", res.Name, offset, err)
	}
	items, err := decodeList(body)
	if err != nil {
		return false, fmt.Errorf("mgr: probe %s at offset %d: %w", res.Name, offset, err)
	}
	return len(items) > 0, nil
}

// IsNotFound reports whether err is the API's 404 for a record (deleted
// since it was listed) or an endpoint.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// check reads an answer: a success is 200 or 201 with JSON, anything else
// the API's error (recognised as the rate-limit error or a block by its
// status or wording: the docs give neither).
func check(resp *http.Response, body []byte, shown string, redact func(string) string) error {
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		// A garbled success is a status 200 error: retried as transient,
		// unless it arrived whole and would be the same again.
		if why, final := rest.Garbled(body); why != "" {
			ae := &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Message: why + redact(rest.Snippet(body))}
			if final != nil {
				return fmt.Errorf("%w: %w", final, ae)
			}
			return ae
		}
		return nil
	}
	ae := &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Message: redact(errorMessage(body))}
	ae.RateLimited = resp.StatusCode == http.StatusTooManyRequests || rateLimitText.MatchString(ae.Message)
	ae.Blocked = blockedText.MatchString(ae.Message)
	return ae
}

// shouldRetry is the one place that decides what a failed request means:
// a transient failure is retried, a rate signal silences the key and ends
// the account's run, anything else ends the call.
func (c *Client) shouldRetry(ctx context.Context, err error, try *rest.Try) rest.Decision {
	switch classify(err, c.http.Succeeded()) {
	case rateSignal:
		try.Limited++
		until := c.http.Bucket().CoolDown(c.http.Cooldown)
		c.http.Log.Warn("mgr: rate-limit signal; the key stays silent and this account stops for this run", "path", try.Path, "error", err, "silent_until", until)
		if try.Limited >= maxRateSignals {
			return rest.Decision{Err: fmt.Errorf("%w (silent until %s): %w", ErrRateBudget, until.Format(time.RFC3339), err)}
		}
		return rest.Decision{Wait: until.Sub(c.http.Clock.Now())}
	case transient:
		return rest.Decision{}
	case authFailure:
		return rest.Decision{Err: fmt.Errorf("%w (check the key in the account's api_key_env): %w", ErrAuth, err)}
	case blocked:
		return rest.Decision{Err: fmt.Errorf("%w: %w", ErrBlocked, err)}
	}
	return rest.Decision{Err: err}
}

type class int

const (
	fatal class = iota
	transient
	rateSignal
	authFailure
	blocked
)

// classify sorts a failed request.
func classify(err error, keyWorked bool) class {
	if errors.Is(err, context.Canceled) || rest.Refused(err) {
		return fatal
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Blocked:
			return blocked
		case ae.RateLimited:
			return rateSignal
		case ae.Status == http.StatusUnauthorized && keyWorked:
			// Live reports: under throttling the API answers 401 instead of
			// the rate-limit error. A key that worked earlier in this run is
			// throttled, not wrong.
			return rateSignal
		case ae.Status == http.StatusUnauthorized:
			return authFailure
		case ae.Status >= 500 || ae.Status == http.StatusRequestTimeout:
			return transient
		case ae.Status == http.StatusOK:
			return transient // 200 with a garbled body (HTML error page, truncated JSON)
		}
		return fatal
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) {
		return transient
	}
	return transient // connection refused/reset and other transport errors
}
