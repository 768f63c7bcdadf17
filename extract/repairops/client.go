package repairops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/paging"
	"github.com/repairshop/export/extract/rest"
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

// Page is one successful list or detail response, as fetched.
type Page = extract.Page

// Option configures a Client: the options are package rest's, shared by
// every client. Here rest.WithRateLimit sets the key's quota (default 1000
// per hour): the client uses headroom×quota (default 90 %) and leaves the
// rest for the shop's other integrations; the API's X-RateLimit-Limit wins
// when it is lower. rest.WithCooldown is the key's silence after a 429
// that names neither Retry-After nor X-RateLimit-Reset. rest.WithRunBudget with a
// deadline also lets the client wait for the quota's reset when the reset
// comes before it; without one, a spent quota ends the run (ErrQuota).
// rest.WithPace is the least time between two requests (default
// DefaultPace, or less when the quota spread over its window is faster);
// rest.WithPageSize the list page size (default and maximum 500).
type Option = rest.Option

// Client talks to one organisation's API key. It is safe for concurrent
// use; all requests on the key share one pacing bucket and one view of the
// quota.
type Client struct {
	http *rest.Client

	mu    sync.Mutex
	quota Quota
	mine  []time.Time // this client's requests within the last window
	// skew is how far the server's clock (its Date header) is ahead of
	// ours: its absolute reset times are read back onto our clock.
	skew time.Duration
	// limited counts the 429s met in this run.
	limited int
}

// NewClient returns a client for one API key.
func NewClient(key string, opts ...Option) (*Client, error) {
	if key == "" {
		return nil, fmt.Errorf("%w: empty key", ErrAuth)
	}
	c := &Client{}
	defaults := rest.Settings{
		BaseURL: "https://api.repairops.io/v1",
		Limit:   DefaultRequestsPerHour, Per: time.Hour, Headroom: budget.DefaultHeadroom, Cooldown: time.Minute,
		Retries: 4, Backoff: 2 * time.Second, Timeout: 60 * time.Second, Pace: DefaultPace, PageSize: MaxPageSize,
	}
	rules := rest.Rules{
		Name:      "repairops",
		Authorize: func(h http.Header) { h.Set("Authorization", "Bearer "+key) },
		Admit:     c.admit,
		Sent: func(at time.Time) {
			c.mu.Lock()
			c.mine = append(c.mine, at)
			c.mu.Unlock()
		},
		Check: c.check,
		Retry: c.shouldRetry,
	}
	var err error
	c.http, err = rest.New(key, defaults, opts, rules, func(s rest.Settings) (int, time.Duration, float64) {
		// Never faster than the pace, unless the quota spread evenly over
		// its window is faster still (a key with a very large quota).
		pace := min(s.Pace, s.Per/time.Duration(s.Limit))
		return 1, max(pace, time.Millisecond), 1
	})
	if err != nil {
		return nil, err
	}
	if h := c.http.Headroom; h <= 0 || h > 1 {
		c.http.Headroom = budget.DefaultHeadroom
	}
	c.http.PageSize = min(max(c.http.PageSize, 1), MaxPageSize)
	return c, nil
}

// Requests is the number of HTTP requests sent so far, failures included.
func (c *Client) Requests() int64 { return c.http.Requests() }

// Quota is the key's quota as the last response reported it.
func (c *Client) Quota() Quota {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quota
}

// CoolingUntil is the end of a 429 wait recorded on the key, by this or
// another process (zero if none).
func (c *Client) CoolingUntil() time.Time { return c.http.CoolingUntil() }

// Allowed is how many requests per window the client allows itself on a
// key whose limit is limit: headroom×min(limit, configured).
func (c *Client) allowed(limit int) int {
	return max(int(math.Floor(float64(min(limit, c.http.Limit))*c.http.Headroom)), 1)
}

// maxEmptyPages stops a listing whose pages bring nothing new, which means
// the server is not honouring offset.
const maxEmptyPages = 3

// Overlap is how many records each page after the first reads again from
// the page before. A record deleted ahead of the client while it pages
// moves the rest one place towards the head: without the overlap the
// record that moved onto the previous page would be stepped over, and,
// the listing being complete, would look deleted. Repeats are dropped by
// id. A page that starts with a record not seen means more moved than
// the overlap covers: the listing steps back a page (maxStepBacks times).
const Overlap = 2

const maxStepBacks = 3

// minSkew is the least clock difference corrected for: the Date header
// counts whole seconds.
const minSkew = 2 * time.Second

// List pages through a list resource from offset 0; see ListFrom.
func (c *Client) List(ctx context.Context, res Resource, fn func(Page) error) error {
	return c.ListFrom(ctx, res, 0, fn)
}

// ListFrom pages through a list resource from start, following next_offset
// until has_more is false, calling fn with each page's new records; the
// loop and its guards (overlap, step back, dedupe by id, stale pages) are
// package paging's. fn may return StopListing to end the listing early. A
// full listing whose distinct records differ from the total the API
// reported is logged: records changed while it paged.
func (c *Client) ListFrom(ctx context.Context, res Resource, start int, fn func(Page) error) error {
	return paging.Walk{
		API: "repairops", Resource: res.Name, Start: start, PageSize: c.http.PageSize,
		Overlap: Overlap, MaxStepBacks: maxStepBacks, MaxEmptyPages: maxEmptyPages,
		Log: c.http.Log, Now: c.http.Clock.Now,
		Fetch: func(ctx context.Context, offset int) (paging.Answer, error) {
			params := rest.Params(res.Params)
			if !res.Unpaged || offset > 0 {
				pageParams(params, offset, c.http.PageSize)
			}
			body, err := c.http.Get(ctx, res.Name, params)
			if err != nil {
				return paging.Answer{}, err
			}
			lp, err := decodeList(body, offset, c.http.PageSize)
			if err != nil {
				return paging.Answer{}, err
			}
			if res.Unpaged && !lp.paged {
				// Documented without pagination (KPIs): one answer is the
				// whole window. Should a server page it after all, its
				// pagination is followed like any list's.
				lp.more, lp.total = false, -1
			}
			return paging.Answer{Params: params, Body: body, Items: lp.items, Total: lp.total, Next: lp.next, More: lp.more}, nil
		},
	}.Run(ctx, fn)
}

// Get fetches one record, e.g. Get(ctx, "tickets", "550e8400-…").
func (c *Client) Get(ctx context.Context, resource, id string) (Page, error) {
	path := resource + "/" + url.PathEscape(id)
	body, err := c.http.Get(ctx, path, nil)
	if err != nil {
		return Page{}, fmt.Errorf("repairops: get %s: %w", path, err)
	}
	rec, err := decodeRecord(body)
	if err != nil {
		return Page{}, fmt.Errorf("repairops: get %s: %w", path, err)
	}
	return Page{Resource: resource, Body: body, Records: append(append([]byte{'['}, rec...), ']'), Count: 1, Total: 1, FetchedAt: c.http.Clock.Now(), Last: true}, nil
}

// Probe asks for one record of a list and returns the total the API
// reports (-1 if it does not say): `repairshop-export plan` sizes a list for one
// request.
func (c *Client) Probe(ctx context.Context, res Resource) (int, error) {
	params := rest.Params(res.Params)
	pageParams(params, 0, 1)
	body, err := c.http.Get(ctx, res.Name, params)
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
	per := c.http.Per
	cut := now.Add(-per)
	keep := c.mine[:0]
	for _, t := range c.mine {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	c.mine = keep
	if n := c.allowed(c.http.Limit); len(c.mine) >= n {
		return c.mine[0].Add(per).Sub(now), fmt.Sprintf("%d requests sent in the last %v (the configured quota's %d)", len(c.mine), per, n)
	}
	return 0, ""
}

// admit waits, before each request, for the hourly quota: with a deadline
// the reset comes before, the client waits for it; otherwise a spent quota
// ends the run (ErrQuota) and the next run resumes.
func (c *Client) admit(ctx context.Context) error {
	for {
		if err := c.http.Spent(); err != nil {
			return err
		}
		now := c.http.Clock.Now()
		wait, why := c.quotaWait(now)
		if wait <= 0 {
			return nil
		}
		until := now.Add(wait)
		if c.http.Deadline.IsZero() || until.After(c.http.Deadline) {
			return fmt.Errorf("%w until %s: %s", ErrQuota, until.Format(time.RFC3339), why)
		}
		c.http.Log.Info("repairops: hourly quota reached; waiting for its reset (the run's deadline allows it)", "until", until.Format(time.RFC3339), "why", why)
		if err := c.http.Clock.Sleep(budget.WithWaitReason(ctx, "hourly quota reset ("+why+")"), wait); err != nil {
			return err
		}
	}
}

// shouldRetry is the one place that decides what a failed request means: a
// 429 is waited out to the reset the API names (once a run), a 401/403 is
// the key's, a transient failure is retried, anything else ends the call.
func (c *Client) shouldRetry(ctx context.Context, err error, try *rest.Try) rest.Decision {
	var ae *APIError
	isAPI := errors.As(err, &ae)
	switch {
	case isAPI && ae.RateLimited():
		// At most one rate-limit error per key per run: the first is
		// waited out when it names its reset, and the run goes on; one that
		// names none, or a second, ends the account's run (the ledger keeps
		// the key silent for every process), and the next run resumes.
		try.Limited++
		now := c.http.Clock.Now()
		c.mu.Lock()
		c.limited++
		second := c.limited > 1
		c.quota.Known = false
		c.mu.Unlock()
		until := ae.RetryAfter
		named := until.After(now)
		if !named {
			until = now.Add(c.http.Cooldown)
		}
		c.http.Bucket().CoolDown(until.Sub(now))
		switch {
		case second:
			return rest.Decision{Err: fmt.Errorf("%w: a second rate-limit error in this run (the key stays silent until %s): %w", ErrQuota, until.Format(time.RFC3339), err)}
		case !named:
			return rest.Decision{Err: fmt.Errorf("%w: rate limited without a reset time (neither Retry-After nor X-RateLimit-Reset; the key stays silent until %s): %w", ErrQuota, until.Format(time.RFC3339), err)}
		case !c.http.Deadline.IsZero() && until.After(c.http.Deadline):
			return rest.Decision{Err: fmt.Errorf("%w until %s, after the run's deadline: %w", ErrQuota, until.Format(time.RFC3339), err)}
		}
		c.http.Log.Warn("repairops: rate limited; waiting until the reset the API named", "path", try.Path, "error", err, "until", until.Format(time.RFC3339))
		return rest.Decision{Wait: until.Sub(now)}
	case isAPI && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		what := "the key is missing or invalid"
		if ae.Status == http.StatusForbidden {
			what = "the key's scope does not allow reading " + strings.SplitN(try.Path, "?", 2)[0]
		}
		return rest.Decision{Err: &extract.Advice{
			Text: what + " (fix the key in the account's api_key_env; an export needs a key with the Read scope, from Settings → API Keys)",
			Err:  fmt.Errorf("%w: %w", ErrAuth, err),
		}}
	case isTransient(err):
		return rest.Decision{}
	}
	return rest.Decision{Err: err}
}

// isTransient classifies failures worth retrying: 5xx, 408, a garbled 200,
// timeouts and transport errors. Cancellation is not.
func isTransient(err error) bool {
	if errors.Is(err, context.Canceled) || rest.Refused(err) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout || (ae.Status >= 200 && ae.Status < 300)
	}
	return true // timeouts, connection refused/reset, truncated bodies
}

// check reads an answer: X-RateLimit-* on every one, a 2xx with JSON, or
// the error envelope (the key redacted wherever it is echoed).
func (c *Client) check(resp *http.Response, body []byte, shown string) error {
	c.noteSkew(resp.Header.Get("Date"))
	c.noteQuota(resp.Header)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// A garbled success is a status 200 error: retried as transient,
		// unless it arrived whole and would be the same again.
		if why, final := rest.Garbled(body); why != "" {
			ae := &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Message: why + c.http.Redact(rest.Snippet(body))}
			if final != nil {
				return fmt.Errorf("%w: %w", final, ae)
			}
			return ae
		}
		if why := emptyTooSoon(body, resp.Request); why != "" {
			return &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Message: why}
		}
		return nil
	}
	code, msg, details := decodeError(body)
	ae := &APIError{Method: "GET", Path: shown, Status: resp.StatusCode, Code: code, Message: c.http.Redact(msg)}
	if len(details) > 0 {
		ae.Details = json.RawMessage(c.http.Redact(string(details)))
	}
	if ae.RateLimited() {
		ae.RetryAfter = retryAt(resp.Header, c.http.Clock.Now(), c.clockSkew())
	}
	return ae
}

// noteQuota records the X-RateLimit-* headers of a response.
func (c *Client) noteQuota(h http.Header) {
	limit, errL := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	remaining, errR := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if errL != nil || errR != nil {
		return
	}
	now := c.http.Clock.Now()
	reset := resetTime(h.Get("X-RateLimit-Reset"), now, c.clockSkew())
	if reset.IsZero() {
		reset = now.Add(c.http.Per) // no reset said: assume a full window
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if (!c.quota.Known || c.quota.Limit != limit) && limit < c.http.Limit {
		c.http.Log.Info("repairops: the API reports a lower quota than configured; using the API's", "x_ratelimit_limit", limit, "configured", c.http.Limit)
	}
	c.quota = Quota{Known: true, Limit: limit, Remaining: remaining, Reset: reset}
}

// noteSkew measures the server's clock against ours from a Date header.
func (c *Client) noteSkew(date string) {
	t, err := http.ParseTime(date)
	if err != nil {
		return
	}
	d := t.Sub(c.http.Clock.Now())
	if d > -minSkew && d < minSkew {
		d = 0
	}
	c.mu.Lock()
	if moved := d - c.skew; d != 0 && (moved >= minSkew || moved <= -minSkew) {
		c.http.Log.Info("repairops: the server's clock is not ours; reading its reset times onto our clock", "server_ahead_by", d.Round(time.Second))
	}
	c.skew = d
	c.mu.Unlock()
}

func (c *Client) clockSkew() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skew
}

// resetTime reads X-RateLimit-Reset: epoch seconds as documented, liberally
// epoch milliseconds or seconds from now (a small number), or an HTTP date.
// An instant is on the server's clock, skew ahead of ours: it is moved
// back onto ours.
func resetTime(v string, now time.Time, skew time.Duration) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case f > 1e12:
			return time.UnixMilli(int64(f)).Add(-skew)
		case f > 1e9:
			return time.Unix(int64(f), 0).Add(-skew)
		case f >= 0:
			return now.Add(time.Duration(f * float64(time.Second)))
		}
		return time.Time{}
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Add(-skew)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.Add(-skew)
	}
	return time.Time{}
}

// retryAt is when a 429 says to come back: Retry-After (seconds or a date)
// if present, else X-RateLimit-Reset; zero if neither.
func retryAt(h http.Header, now time.Time, skew time.Duration) time.Time {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return now.Add(time.Duration(n) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return t.Add(-skew)
		}
	}
	return resetTime(h.Get("X-RateLimit-Reset"), now, skew)
}
