// Package mgr is the My Gadget Repairs API client. It pages through list
// endpoints by offset, paced below the key's limit, and treats every sign of
// throttling as a reason for a minute of silence: the vendor blocks the key
// and the shop's IP for six hours after ten ignored rate-limit errors, which
// would take the shop's own integrations down with our export.
//
// It yields raw pages and knows nothing of Arrow or DuckDB.
package mgr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/listing"
)

// Documented limits.
const (
	DefaultRequestsPerMinute = 30
	PageSize                 = 50
	// MinCooldown is the silence after a rate-limit signal the vendor asks for.
	MinCooldown = time.Minute
)

// Errors callers branch on with errors.Is.
var (
	// ErrAuth means the key was refused before it ever worked: fix the key.
	ErrAuth = errors.New("mgr: API key refused")
	// ErrRateBudget means the run stopped on this key because throttling
	// persisted after the cool-downs; the next run resumes.
	ErrRateBudget = errors.New("mgr: rate limit persisted; stopped to avoid a block")
	// ErrBlocked means the vendor has blocked the key/IP (six hours).
	ErrBlocked = errors.New("mgr: key or IP blocked by the API")
	// ErrRunBudget means the run's own cap (--max-requests, --max-duration)
	// is spent; nothing went wrong and the next run continues.
	ErrRunBudget = errors.New("mgr: the run's request budget is spent")
)

// Client talks to one shop's API key. It is safe for concurrent use; all
// requests on the key share one pacing bucket.
type Client struct {
	key      string
	base     *url.URL
	hc       *http.Client
	clock    budget.Clock
	log      *slog.Logger
	limit    int
	per      time.Duration
	headroom float64
	cooldown time.Duration
	retries  int
	backoff  time.Duration
	timeout  time.Duration
	bucket   *budget.Bucket
	ledger   *budget.Ledger

	maxRequests int64     // 0: no cap
	deadline    time.Time // zero: none

	requests  atomic.Int64
	succeeded atomic.Bool
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at another server (default the vendor's).
func WithBaseURL(u string) Option {
	return func(c *Client) {
		if p, err := url.Parse(strings.TrimSuffix(u, "/")); err == nil {
			c.base = p
		}
	}
}

// WithHTTPClient sets the HTTP client (default: a dedicated client, never http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithClock sets the clock used for pacing, cool-downs and backoff.
func WithClock(clk budget.Clock) Option { return func(c *Client) { c.clock = clk } }

// WithLogger sets the logger for retries and rate signals.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithRateLimit sets the key's limit (default 30 per minute); the client
// paces to headroom×limit (default 90%) so it stays below it.
func WithRateLimit(n int, per time.Duration, headroom float64) Option {
	return func(c *Client) { c.limit, c.per, c.headroom = n, per, headroom }
}

// WithCooldown sets the silence after a rate signal. Production code keeps
// the default (one minute, as the vendor asks); tests against a simulator
// with a scaled window scale it too.
func WithCooldown(d time.Duration) Option { return func(c *Client) { c.cooldown = d } }

// WithRetries bounds retries of one request on 5xx, timeouts and garbled
// responses, with exponential backoff starting at backoff.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// WithLedger shares the key's pacing and rate signals with every other
// process using it, through a ledger file (see budget.Ledger).
func WithLedger(l *budget.Ledger) Option { return func(c *Client) { c.ledger = l } }

// WithRunBudget caps what this client may spend: at most maxRequests
// requests (0: no cap) and none sent after deadline (zero: none). Once
// spent, calls fail with ErrRunBudget before sending anything.
func WithRunBudget(maxRequests int64, deadline time.Time) Option {
	return func(c *Client) { c.maxRequests, c.deadline = maxRequests, deadline }
}

// WithRequestTimeout bounds one HTTP request (default 60 s).
func WithRequestTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// NewClient returns a client for one API key.
func NewClient(key string, opts ...Option) (*Client, error) {
	base, _ := url.Parse("https://api.mygadgetrepairs.com/v1")
	c := &Client{
		key: key, base: base, hc: &http.Client{}, clock: budget.Real{}, log: slog.New(slog.DiscardHandler),
		limit: DefaultRequestsPerMinute, per: time.Minute, cooldown: MinCooldown,
		retries: 4, backoff: 2 * time.Second, timeout: 60 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	if key == "" {
		return nil, fmt.Errorf("%w: empty key", ErrAuth)
	}
	b, err := budget.NewBucket(c.clock, c.limit, c.per, c.headroom)
	if err != nil {
		return nil, fmt.Errorf("mgr: %w", err)
	}
	if c.ledger != nil {
		b.UseLedger(c.ledger)
	}
	c.bucket = b
	return c, nil
}

// CoolingUntil is the end of the key's current rate-limit silence, whoever
// recorded it (zero if none).
func (c *Client) CoolingUntil() time.Time { return c.bucket.CoolingUntil() }

// Requests is the number of HTTP requests sent so far, failures included.
func (c *Client) Requests() int64 { return c.requests.Load() }

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
// (start a page before where it stopped: records may have shifted).
func (c *Client) ListFrom(ctx context.Context, res Resource, start int, fn func(Page) error) error {
	seen := map[string]struct{}{}
	stale, stepBacks := 0, 0
	first := true
	for offset := max(start, 0); ; {
		params := url.Values{}
		for k, v := range res.Params {
			params[k] = append([]string(nil), v...)
		}
		params.Set("limit", strconv.Itoa(PageSize))
		params.Set("offset", strconv.Itoa(offset))
		body, err := c.get(ctx, res.Name, params)
		if err != nil {
			return fmt.Errorf("mgr: list %s at offset %d: %w", res.Name, offset, err)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			// get() already retried garbled bodies; this is not an array at all.
			return fmt.Errorf("mgr: list %s at offset %d: response is not a JSON array: %w", res.Name, offset, err)
		}
		if !first && offset > 0 && len(items) > 0 && stepBacks < maxStepBacks && len(seen) > 0 {
			// The page should start inside the overlap, with a record
			// already seen; if not, records moved towards the head by
			// more than the overlap and some may have been stepped over.
			if id, ok := recordID(items[0]); ok {
				if _, dup := seen[id]; !dup {
					stepBacks++
					back := max(offset-PageSize+Overlap, 0)
					c.log.Warn("mgr: the listing shifted by more than the page overlap; stepping back a page", "resource", res.Name, "offset", offset, "back_to", back)
					offset = back
					continue
				}
			}
		}
		first = false
		page := Page{Resource: res.Name, Params: params, Body: body, FetchedAt: c.clock.Now()}
		fresh := make([]json.RawMessage, 0, len(items))
		for i, it := range items {
			id, ok := recordID(it)
			if ok {
				if _, dup := seen[id]; dup {
					if i >= Overlap || offset == start {
						page.Dupes++ // a repeat beyond the overlap we asked for
					}
					page.Dropped = append(page.Dropped, i)
					continue
				}
				seen[id] = struct{}{}
			}
			fresh = append(fresh, it)
		}
		page.Count = len(fresh)
		page.Records, _ = json.Marshal(fresh) // RawMessages re-joined: cannot fail
		page.Next, page.Last = offset+len(items), len(items) < PageSize
		if err := fn(page); err != nil {
			return err
		}
		if page.Last {
			return nil
		}
		if len(fresh) == 0 {
			if res.Reference {
				// A short lookup list served whole whatever the offset:
				// everything has been seen.
				c.log.Warn("mgr: the list repeats itself instead of paging; taking it as complete", "resource", res.Name, "offset", offset)
				return nil
			}
			if stale++; stale >= maxEmptyPages {
				return fmt.Errorf("mgr: list %s at offset %d: %d full pages brought no new records; the server is not paging by offset", res.Name, offset, stale)
			}
		} else {
			stale = 0
		}
		offset += len(items) - Overlap
	}
}

// Get fetches one record, e.g. Get(ctx, "tickets", "1001").
func (c *Client) Get(ctx context.Context, resource, id string) (Page, error) {
	path := resource + "/" + url.PathEscape(id)
	body, err := c.get(ctx, path, nil)
	if err != nil {
		return Page{}, fmt.Errorf("mgr: get %s: %w", path, err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return Page{}, fmt.Errorf("mgr: get %s: response is not a JSON object: %w", path, err)
	}
	return Page{Resource: resource, Body: body, Records: append(append([]byte{'['}, body...), ']'), Count: 1, FetchedAt: c.clock.Now()}, nil
}

func recordID(rec json.RawMessage) (string, bool) { return listing.RecordID(rec) }

// IsNotFound reports whether err is the API's 404 for a record (deleted
// since it was listed).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// spent says why the run's own budget forbids another request, or "".
func (c *Client) spent() string {
	if c.maxRequests > 0 && c.requests.Load() >= c.maxRequests {
		return fmt.Sprintf("%d of %d requests sent", c.requests.Load(), c.maxRequests)
	}
	if !c.deadline.IsZero() && !c.clock.Now().Before(c.deadline) {
		return "the run's time is up (" + c.deadline.Format(time.RFC3339) + ")"
	}
	return ""
}

// get performs one GET with pacing, rate-signal handling and bounded retries.
func (c *Client) get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	rateSignals, failures := 0, 0
	for {
		if why := c.spent(); why != "" {
			return nil, fmt.Errorf("%w: %s", ErrRunBudget, why)
		}
		if err := c.bucket.Wait(ctx); err != nil {
			return nil, err
		}
		if why := c.spent(); why != "" { // the wait may have crossed the deadline
			return nil, fmt.Errorf("%w: %s", ErrRunBudget, why)
		}
		body, err := c.do(ctx, path, params)
		if err == nil {
			c.succeeded.Store(true)
			return body, nil
		}
		switch decide(err, c.succeeded.Load()) {
		case rateSignal:
			rateSignals++
			until := c.bucket.CoolDown(c.cooldown)
			c.log.Warn("mgr: rate-limit signal; the key stays silent and this account stops for this run", "path", path, "error", err, "silent_until", until)
			if rateSignals >= maxRateSignals {
				return nil, fmt.Errorf("%w (silent until %s): %w", ErrRateBudget, until.Format(time.RFC3339), err)
			}
		case transient:
			failures++
			if failures > c.retries {
				return nil, fmt.Errorf("giving up after %d attempts: %w", failures, err)
			}
			wait := c.backoff << (failures - 1)
			c.log.Warn("mgr: transient failure; retrying", "path", path, "error", err, "attempt", failures, "wait", wait)
			if err := c.clock.Sleep(ctx, wait); err != nil {
				return nil, err
			}
		case authFailure:
			return nil, fmt.Errorf("%w (check the key in the account's api_key_env): %w", ErrAuth, err)
		case blocked:
			return nil, fmt.Errorf("%w: %w", ErrBlocked, err)
		default:
			return nil, err
		}
	}
}

type verdict int

const (
	fatal verdict = iota
	transient
	rateSignal
	authFailure
	blocked
)

// decide is the one place that classifies a failed request.
func decide(err error, keyWorked bool) verdict {
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
	if errors.Is(err, context.Canceled) {
		return fatal
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) {
		return transient
	}
	return transient // connection refused/reset and other transport errors
}

var (
	rateLimitText = regexp.MustCompile(`(?i)rate.?limit|too many requests|requests per minute`)
	blockedText   = regexp.MustCompile(`(?i)\b(been|are|is|now|currently) blocked\b`)
)

// maxBody bounds one response body.
const maxBody = 64 << 20

func (c *Client) do(ctx context.Context, path string, params url.Values) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + path
	if params != nil {
		u.RawQuery = params.Encode()
	}
	shown := path
	if u.RawQuery != "" {
		shown += "?" + u.RawQuery
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", shown, err)
	}
	req.Header.Set("Authorization", c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "repairshop-export")
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		// Never let the URL-carrying *url.Error leak credentials: the key is
		// a header, not in the URL, so the URL is safe to show.
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", shown, err)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		if !json.Valid(body) {
			return nil, &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Message: "response is not valid JSON: " + snippet(body)}
		}
		return body, nil
	}
	ae := &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Message: errorMessage(body)}
	ae.RateLimited = resp.StatusCode == http.StatusTooManyRequests || rateLimitText.MatchString(ae.Message)
	ae.Blocked = blockedText.MatchString(ae.Message)
	return nil, ae
}

// errorMessage extracts {"error":"..."} (or {"error":{"message":...}}), else a snippet.
func errorMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var s string
		if json.Unmarshal(e.Error, &s) == nil {
			return s
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &o) == nil && o.Message != "" {
			return o.Message
		}
		return string(e.Error)
	}
	return snippet(body)
}

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// Probe sizes a list without reading it: it asks for one record at each
// offset (paced like any request) and reports whether the list holds
// more than offset records.
func (c *Client) Probe(ctx context.Context, res Resource, offset int) (bool, error) {
	params := url.Values{}
	for k, v := range res.Params {
		params[k] = append([]string(nil), v...)
	}
	params.Set("limit", "1")
	params.Set("offset", strconv.Itoa(offset))
	body, err := c.get(ctx, res.Name, params)
	if err != nil {
		return false, fmt.Errorf("mgr: probe %s at offset %d: %w", res.Name, offset, err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return false, fmt.Errorf("mgr: probe %s at offset %d: response is not a JSON array: %w", res.Name, offset, err)
	}
	return len(items) > 0, nil
}
