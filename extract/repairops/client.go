// Package repairops is the RepairOps API client. RepairOps meters each key
// by the hour (1,000 read requests for a Read-scoped key) and says where the
// key stands on every response (X-RateLimit-Limit/Remaining/Reset). The
// client reads those headers on every answer and stops short of the quota,
// leaving a reserve for the shop's other integrations, so the export never
// runs the key dry by surprise; a 429 is waited out until the reset the API
// names.
//
// It yields raw pages and knows nothing of Arrow or DuckDB. How the API
// pages and wraps its answers lives in envelope.go alone.
package repairops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/listing"
)

// Documented limits.
const (
	// DefaultRequestsPerHour is the Read scope's quota.
	DefaultRequestsPerHour = 1000
	// MaxPageSize is the largest limit a list accepts.
	MaxPageSize = 500
	// DefaultPace is the least time between two requests on a key: the
	// quota is hourly, so the client may go quickly while the headers say
	// there is room, but it never hammers.
	DefaultPace = 250 * time.Millisecond
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
	ErrRunBudget = errors.New("repairops: the run's request budget is spent")
	// StopListing, returned by a List callback, ends the listing without error.
	StopListing = errors.New("repairops: stop listing")
)

// Client talks to one organisation's API key. It is safe for concurrent
// use; all requests on the key share one pacing bucket and one view of the
// quota.
type Client struct {
	key      string
	base     *url.URL
	hc       *http.Client
	clock    budget.Clock
	log      *slog.Logger
	limit    int // requests per window, as configured
	per      time.Duration
	headroom float64
	cooldown time.Duration // wait after a 429 that names no reset
	retries  int
	backoff  time.Duration
	timeout  time.Duration
	pace     time.Duration
	pageSize int
	bucket   *budget.Bucket
	ledger   *budget.Ledger

	maxRequests int64     // 0: no cap
	deadline    time.Time // zero: none

	requests atomic.Int64

	mu    sync.Mutex
	quota Quota
	mine  []time.Time // this client's requests within the last window
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

// WithClock sets the clock used for pacing, quota waits and backoff.
func WithClock(clk budget.Clock) Option { return func(c *Client) { c.clock = clk } }

// WithLogger sets the logger for retries and quota waits.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithRateLimit sets the key's quota (default 1000 per hour). The client
// uses headroom×quota (default 90%) and leaves the rest for the shop's other
// integrations. The API's X-RateLimit-Limit wins when it is lower.
func WithRateLimit(n int, per time.Duration, headroom float64) Option {
	return func(c *Client) { c.limit, c.per, c.headroom = n, per, headroom }
}

// WithCooldown sets the wait after a 429 that names neither Retry-After nor
// X-RateLimit-Reset (default one minute).
func WithCooldown(d time.Duration) Option { return func(c *Client) { c.cooldown = d } }

// WithRetries bounds retries of one request on 5xx, timeouts and garbled
// responses, with exponential backoff starting at backoff.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// WithLedger shares the key's pacing and 429 waits with every other process
// using it, through a ledger file (see budget.Ledger).
func WithLedger(l *budget.Ledger) Option { return func(c *Client) { c.ledger = l } }

// WithRunBudget caps what this client may spend: at most maxRequests
// requests (0: no cap) and none sent after deadline (zero: none). Once
// spent, calls fail with ErrRunBudget before sending anything. A deadline
// also lets the client wait for the quota's reset when the reset comes
// before it; without one, a spent quota ends the run (ErrQuota).
func WithRunBudget(maxRequests int64, deadline time.Time) Option {
	return func(c *Client) { c.maxRequests, c.deadline = maxRequests, deadline }
}

// WithRequestTimeout bounds one HTTP request (default 60 s).
func WithRequestTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithPace sets the least time between two requests (default DefaultPace,
// or less when the quota spread over its window is faster).
func WithPace(d time.Duration) Option { return func(c *Client) { c.pace = d } }

// WithPageSize sets the list page size (default and maximum 500).
func WithPageSize(n int) Option { return func(c *Client) { c.pageSize = n } }

// NewClient returns a client for one API key.
func NewClient(key string, opts ...Option) (*Client, error) {
	base, _ := url.Parse("https://api.repairops.io/v1")
	c := &Client{
		key: key, base: base, hc: &http.Client{}, clock: budget.Real{}, log: slog.New(slog.DiscardHandler),
		limit: DefaultRequestsPerHour, per: time.Hour, headroom: budget.DefaultHeadroom, cooldown: time.Minute,
		retries: 4, backoff: 2 * time.Second, timeout: 60 * time.Second, pace: DefaultPace, pageSize: MaxPageSize,
	}
	for _, o := range opts {
		o(c)
	}
	if key == "" {
		return nil, fmt.Errorf("%w: empty key", ErrAuth)
	}
	if c.limit <= 0 || c.per <= 0 {
		return nil, fmt.Errorf("repairops: quota must be positive, got %d per %v", c.limit, c.per)
	}
	if c.headroom <= 0 || c.headroom > 1 {
		c.headroom = budget.DefaultHeadroom
	}
	c.pageSize = min(max(c.pageSize, 1), MaxPageSize)
	// Never faster than the pace, unless the quota spread evenly over its
	// window is faster still (a key with a very large quota).
	pace := min(c.pace, c.per/time.Duration(c.limit))
	b, err := budget.NewBucket(c.clock, 1, max(pace, time.Millisecond), 1)
	if err != nil {
		return nil, fmt.Errorf("repairops: %w", err)
	}
	if c.ledger != nil {
		b.UseLedger(c.ledger)
	}
	c.bucket = b
	return c, nil
}

// Requests is the number of HTTP requests sent so far, failures included.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Quota is the key's quota as the last response reported it.
func (c *Client) Quota() Quota {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quota
}

// CoolingUntil is the end of a 429 wait recorded on the key, by this or
// another process (zero if none).
func (c *Client) CoolingUntil() time.Time { return c.bucket.CoolingUntil() }

// Allowed is how many requests per window the client allows itself on a
// key whose limit is limit: headroom×min(limit, configured).
func (c *Client) allowed(limit int) int {
	return max(int(math.Floor(float64(min(limit, c.limit))*c.headroom)), 1)
}

// maxEmptyPages stops a listing whose pages bring nothing new, which means
// the server is not honouring offset.
const maxEmptyPages = 3

// maxRateLimited is how many 429s one request may meet (each waited out to
// the reset) before the client gives up on the key for this run.
const maxRateLimited = 2

// List pages through a list resource from offset 0; see ListFrom.
func (c *Client) List(ctx context.Context, res Resource, fn func(Page) error) error {
	return c.ListFrom(ctx, res, 0, fn)
}

// ListFrom pages through a list resource from start, following next_offset
// until has_more is false, calling fn with each page's new records. Records
// are deduplicated by id across the listing (a sort on a field that changes
// while the client pages brings some round twice); records without an id
// are passed on (transform quarantines them). fn may return StopListing to
// end the listing early. A full listing whose distinct records differ from
// the total the API reported is logged: records changed while it paged.
func (c *Client) ListFrom(ctx context.Context, res Resource, start int, fn func(Page) error) error {
	seen := map[string]struct{}{}
	stale, total, anon := 0, -1, 0
	for offset := max(start, 0); ; {
		params := url.Values{}
		for k, v := range res.Params {
			params[k] = append([]string(nil), v...)
		}
		if !res.Unpaged || offset > 0 {
			pageParams(params, offset, c.pageSize)
		}
		body, err := c.get(ctx, res.Name, params)
		if err != nil {
			return fmt.Errorf("repairops: list %s at offset %d: %w", res.Name, offset, err)
		}
		lp, err := decodeList(body, offset, c.pageSize)
		if err != nil {
			return fmt.Errorf("repairops: list %s at offset %d: %w", res.Name, offset, err)
		}
		if res.Unpaged && !lp.paged {
			// Documented without pagination (KPIs): one answer is the
			// whole window. Should a server page it after all, its
			// pagination is followed like any list's.
			lp.more, lp.total = false, -1
		}
		if total < 0 {
			total = lp.total
		}
		page := Page{Resource: res.Name, Params: params, Body: body, FetchedAt: c.clock.Now(), Total: lp.total, Next: lp.next, Last: !lp.more}
		fresh := make([]json.RawMessage, 0, len(lp.items))
		for i, it := range lp.items {
			if id, ok := listing.RecordID(it); ok {
				if _, dup := seen[id]; dup {
					page.Dupes++
					page.Dropped = append(page.Dropped, i)
					continue
				}
				seen[id] = struct{}{}
			} else {
				anon++
			}
			fresh = append(fresh, it)
		}
		page.Count = len(fresh)
		page.Records, _ = json.Marshal(fresh) // RawMessages re-joined: cannot fail
		if err := fn(page); err != nil {
			if errors.Is(err, StopListing) {
				return nil
			}
			return err
		}
		if page.Last {
			if start == 0 && total >= 0 && len(seen)+anon != total {
				c.log.Warn("repairops: the listing's distinct records differ from the total the API reported (records changed while paging; the next run catches up)",
					"resource", res.Name, "seen", len(seen)+anon, "total", total)
			}
			return nil
		}
		if len(fresh) == 0 {
			if stale++; stale >= maxEmptyPages {
				return fmt.Errorf("repairops: list %s at offset %d: %d pages brought no new records; the server is not paging by offset", res.Name, offset, stale)
			}
		} else {
			stale = 0
		}
		offset = lp.next
	}
}

// Get fetches one record, e.g. Get(ctx, "tickets", "550e8400-…").
func (c *Client) Get(ctx context.Context, resource, id string) (Page, error) {
	path := resource + "/" + url.PathEscape(id)
	body, err := c.get(ctx, path, nil)
	if err != nil {
		return Page{}, fmt.Errorf("repairops: get %s: %w", path, err)
	}
	rec, err := decodeRecord(body)
	if err != nil {
		return Page{}, fmt.Errorf("repairops: get %s: %w", path, err)
	}
	return Page{Resource: resource, Body: body, Records: append(append([]byte{'['}, rec...), ']'), Count: 1, Total: 1, FetchedAt: c.clock.Now(), Last: true}, nil
}

// Probe asks for one record of a list and returns the total the API
// reports (-1 if it does not say): `export plan` sizes a list for one
// request.
func (c *Client) Probe(ctx context.Context, res Resource) (int, error) {
	params := url.Values{}
	for k, v := range res.Params {
		params[k] = append([]string(nil), v...)
	}
	pageParams(params, 0, 1)
	body, err := c.get(ctx, res.Name, params)
	if err != nil {
		return 0, fmt.Errorf("repairops: probe %s: %w", res.Name, err)
	}
	lp, err := decodeList(body, 0, 1)
	if err != nil {
		return 0, fmt.Errorf("repairops: probe %s: %w", res.Name, err)
	}
	return lp.total, nil
}

// IsNotFound reports whether err is the API's 404 for a record.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// IsInvalidRequest reports whether err is the API's 400 (a filter or range
// it will not serve).
func IsInvalidRequest(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest
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

// quotaWait says how long the quota makes the next request wait, and why:
// the headers' Remaining down to the reserve (the API's view, every client
// of the key counted), or — when the API sends no headers — this client's
// own count in the last window.
func (c *Client) quotaWait(now time.Time) (time.Duration, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.quota
	if q.Known && q.Limit > 0 && now.Before(q.Reset) {
		reserve := q.Limit - c.allowed(q.Limit)
		if q.Remaining <= reserve {
			return q.Reset.Sub(now) + time.Second, fmt.Sprintf("X-RateLimit-Remaining is %d of %d; the last %d are left for the shop's other integrations", q.Remaining, q.Limit, reserve)
		}
	}
	cut := now.Add(-c.per)
	keep := c.mine[:0]
	for _, t := range c.mine {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	c.mine = keep
	if n := c.allowed(c.limit); len(c.mine) >= n {
		return c.mine[0].Add(c.per).Sub(now), fmt.Sprintf("%d requests sent in the last %v (the configured quota's %d)", len(c.mine), c.per, n)
	}
	return 0, ""
}

// admit waits until a request may be sent, then reserves its slot.
func (c *Client) admit(ctx context.Context) error {
	for {
		if why := c.spent(); why != "" {
			return fmt.Errorf("%w: %s", ErrRunBudget, why)
		}
		now := c.clock.Now()
		wait, why := c.quotaWait(now)
		if wait <= 0 {
			break
		}
		until := now.Add(wait)
		if c.deadline.IsZero() || until.After(c.deadline) {
			return fmt.Errorf("%w until %s: %s", ErrQuota, until.Format(time.RFC3339), why)
		}
		c.log.Info("repairops: hourly quota reached; waiting for its reset (the run's deadline allows it)", "until", until.Format(time.RFC3339), "why", why)
		if err := c.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	if err := c.bucket.Wait(ctx); err != nil {
		return err
	}
	if why := c.spent(); why != "" { // the wait may have crossed the deadline
		return fmt.Errorf("%w: %s", ErrRunBudget, why)
	}
	return nil
}

// get performs one GET with pacing, quota handling and bounded retries.
func (c *Client) get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	limited, failures := 0, 0
	for {
		if err := c.admit(ctx); err != nil {
			return nil, err
		}
		body, err := c.do(ctx, path, params)
		if err == nil {
			return body, nil
		}
		var ae *APIError
		isAPI := errors.As(err, &ae)
		switch {
		case isAPI && ae.RateLimited():
			limited++
			now := c.clock.Now()
			until := ae.RetryAfter
			if !until.After(now) {
				until = now.Add(c.cooldown)
			}
			if limited > maxRateLimited {
				return nil, fmt.Errorf("%w: %d rate-limit errors in a row: %w", ErrQuota, limited, err)
			}
			if !c.deadline.IsZero() && until.After(c.deadline) {
				return nil, fmt.Errorf("%w until %s, after the run's deadline: %w", ErrQuota, until.Format(time.RFC3339), err)
			}
			// The wait goes in the key's ledger, so every process on the
			// key keeps it; after it the quota is whatever the next answer
			// says.
			c.bucket.CoolDown(until.Sub(now))
			c.log.Warn("repairops: rate limited; waiting until the reset the API named", "path", path, "error", err, "until", until.Format(time.RFC3339))
			if err := c.clock.Sleep(ctx, until.Sub(now)); err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.quota.Known = false
			c.mu.Unlock()
		case isAPI && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
			what := "the key is missing or invalid"
			if ae.Status == http.StatusForbidden {
				what = "the key's scope does not allow reading /" + strings.SplitN(path, "/", 2)[0]
			}
			return nil, fmt.Errorf("%w: %s (fix the key in the account's api_key_env; an export needs a key with the Read scope, from Settings → API Keys): %w", ErrAuth, what, err)
		case isTransient(err):
			failures++
			if failures > c.retries {
				return nil, fmt.Errorf("giving up after %d attempts: %w", failures, err)
			}
			wait := c.backoff << (failures - 1)
			c.log.Warn("repairops: transient failure; retrying", "path", path, "error", err, "attempt", failures, "wait", wait)
			if err := c.clock.Sleep(ctx, wait); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
}

// isTransient classifies failures worth retrying: 5xx, 408, a garbled 200,
// timeouts and transport errors. Cancellation is not.
func isTransient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout || (ae.Status >= 200 && ae.Status < 300)
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	return true // timeouts, connection refused/reset, truncated bodies
}

// maxBody bounds one response body.
const maxBody = 64 << 20

func (c *Client) do(ctx context.Context, path string, params url.Values) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + path
	if params != nil {
		u.RawQuery = params.Encode()
	}
	shown := "/" + path
	if u.RawQuery != "" {
		shown += "?" + u.RawQuery
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", shown, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "repairshop-export")
	c.requests.Add(1)
	c.mu.Lock()
	c.mine = append(c.mine, c.clock.Now())
	c.mu.Unlock()
	resp, err := c.hc.Do(req)
	if err != nil {
		// The key travels in a header, never in the URL: the URL is safe to show.
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	defer resp.Body.Close()
	c.noteQuota(resp.Header)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", shown, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if !json.Valid(body) {
			return nil, &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Message: "response is not valid JSON: " + c.redact(snippet(body))}
		}
		return body, nil
	}
	code, msg, details := decodeError(body)
	ae := &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Code: code, Message: c.redact(msg)}
	if len(details) > 0 {
		ae.Details = json.RawMessage(c.redact(string(details)))
	}
	if ae.RateLimited() {
		ae.RetryAfter = retryAt(resp.Header, c.clock.Now())
	}
	return nil, ae
}

// redact hides the key wherever an error body echoes it.
func (c *Client) redact(s string) string {
	if len(c.key) < 4 {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[redacted]")
}

// noteQuota records the X-RateLimit-* headers of a response.
func (c *Client) noteQuota(h http.Header) {
	limit, errL := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	remaining, errR := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if errL != nil || errR != nil {
		return
	}
	now := c.clock.Now()
	reset := resetTime(h.Get("X-RateLimit-Reset"), now)
	if reset.IsZero() {
		reset = now.Add(c.per) // no reset said: assume a full window
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if (!c.quota.Known || c.quota.Limit != limit) && limit < c.limit {
		c.log.Info("repairops: the API reports a lower quota than configured; using the API's", "x_ratelimit_limit", limit, "configured", c.limit)
	}
	c.quota = Quota{Known: true, Limit: limit, Remaining: remaining, Reset: reset}
}

// resetTime reads X-RateLimit-Reset: epoch seconds as documented, liberally
// epoch milliseconds or seconds from now (a small number), or an HTTP date.
func resetTime(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case f > 1e12:
			return time.UnixMilli(int64(f))
		case f > 1e9:
			return time.Unix(int64(f), 0)
		case f >= 0:
			return now.Add(time.Duration(f * float64(time.Second)))
		}
		return time.Time{}
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t
	}
	return time.Time{}
}

// retryAt is when a 429 says to come back: Retry-After (seconds or a date)
// if present, else X-RateLimit-Reset; zero if neither.
func retryAt(h http.Header, now time.Time) time.Time {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return now.Add(time.Duration(n) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return t
		}
	}
	return resetTime(h.Get("X-RateLimit-Reset"), now)
}
