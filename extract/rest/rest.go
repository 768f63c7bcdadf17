// Package rest is the HTTP skeleton both API clients share: their options,
// request counting, the run's own budget (--max-requests, --max-duration),
// pacing through a budget.Bucket and the key's ledger, bounded bodies, and
// the retry loop. What an answer means — its status codes, its envelope,
// how a rate-limit error is spelt, which failures are worth a retry — is
// each API's own, given as Rules: the skeleton never blurs one API's rules
// into the other's.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/internal/oneline"
)

// Settings are what a client's options set. Each API starts from its own
// defaults (its documented limit and page size).
type Settings struct {
	BaseURL string
	HTTP    *http.Client
	Clock   budget.Clock
	Log     *slog.Logger
	// Limit requests per Per are the key's quota; the client uses
	// Headroom×Limit of it (0: budget.DefaultHeadroom).
	Limit    int
	Per      time.Duration
	Headroom float64
	// Cooldown is the silence after a rate-limit signal that names none.
	Cooldown time.Duration
	// Retries bounds the retries of one request on transient failures,
	// with exponential backoff from Backoff.
	Retries int
	Backoff time.Duration
	// Timeout bounds one HTTP request.
	Timeout time.Duration
	// Pace is the least time between two requests, for an API metered by
	// a long window (0: spread the quota evenly).
	Pace time.Duration
	// PageSize is the list page size asked (0: the API's largest).
	PageSize int
	Ledger   *budget.Ledger
	// MaxRequests and Deadline are the run's own budget (zero: none).
	MaxRequests int64
	Deadline    time.Time
	// Hook is called at HookAnswered (crash tests kill the process
	// there); nil in production.
	Hook func(point string)
}

// Option configures a client.
type Option func(*Settings)

// WithBaseURL points the client at another server (default the vendor's).
func WithBaseURL(u string) Option { return func(s *Settings) { s.BaseURL = u } }

// WithHTTPClient sets the HTTP client (default: a dedicated client, never http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(s *Settings) { s.HTTP = hc } }

// WithClock sets the clock used for pacing, cool-downs and backoff.
func WithClock(clk budget.Clock) Option { return func(s *Settings) { s.Clock = clk } }

// WithLogger sets the logger for retries and rate signals.
func WithLogger(l *slog.Logger) Option { return func(s *Settings) { s.Log = l } }

// WithRateLimit sets the key's limit: n requests per window; the client
// paces to headroom×n (0: 90 %) so it stays below it.
func WithRateLimit(n int, per time.Duration, headroom float64) Option {
	return func(s *Settings) { s.Limit, s.Per, s.Headroom = n, per, headroom }
}

// WithCooldown sets the silence after a rate signal that names no time.
// Production code keeps the default; tests against a simulator with a
// scaled window scale it too.
func WithCooldown(d time.Duration) Option { return func(s *Settings) { s.Cooldown = d } }

// WithRetries bounds retries of one request on 5xx, timeouts and garbled
// responses, with exponential backoff starting at backoff.
func WithRetries(n int, backoff time.Duration) Option {
	return func(s *Settings) { s.Retries, s.Backoff = n, backoff }
}

// WithLedger shares the key's pacing and rate signals with every other
// process using it, through a ledger file (see budget.Ledger).
func WithLedger(l *budget.Ledger) Option { return func(s *Settings) { s.Ledger = l } }

// WithRunBudget caps what this client may spend: at most maxRequests
// requests (0: no cap) and none sent after deadline (zero: none). Once
// spent, calls fail with ErrRunBudget before sending anything.
func WithRunBudget(maxRequests int64, deadline time.Time) Option {
	return func(s *Settings) { s.MaxRequests, s.Deadline = maxRequests, deadline }
}

// WithRequestTimeout bounds one HTTP request (default 60 s).
func WithRequestTimeout(d time.Duration) Option { return func(s *Settings) { s.Timeout = d } }

// WithPace sets the least time between two requests.
func WithPace(d time.Duration) Option { return func(s *Settings) { s.Pace = d } }

// WithPageSize sets the list page size (bounded by what the API allows).
func WithPageSize(n int) Option { return func(s *Settings) { s.PageSize = n } }

// HookAnswered is the crash point where a request has been answered and
// its body is not read yet: the server counted it, the client has nothing.
const HookAnswered = "request:answered"

// WithHook sets the crash-point hook (see HookAnswered).
func WithHook(h func(point string)) Option { return func(s *Settings) { s.Hook = h } }

// ErrRunBudget means the run's own cap (--max-requests, --max-duration) is
// spent; nothing went wrong and the next run continues. Each API wraps it
// in its own sentinel.
var ErrRunBudget = errors.New("the run's request budget is spent")

// Decision is what an API's rules make of one failed request.
type Decision struct {
	// Err ends the call with this error (already wrapped as the API wants).
	Err error
	// Wait, without Err, sends the request again after this long (a rate
	// limit waited out); the API counts such waits itself.
	Wait time.Duration
	// Neither: a transient failure, retried with exponential backoff up to
	// the client's retry limit.
}

// Try is what the retry loop knows of one call, for the rules to count on.
type Try struct {
	Path     string // shown form: path and query
	Failures int    // transient failures so far
	Limited  int    // rate-limit answers so far
}

// Rules are what an API decides for itself.
type Rules struct {
	// Name prefixes logs and errors ("mgr").
	Name string
	// Authorize sets the request's credentials.
	Authorize func(h http.Header)
	// Admit, if set, waits before each request for what the API's quota
	// demands beyond pacing (an hourly quota's reset); it may return an
	// error instead.
	Admit func(ctx context.Context) error
	// Sent, if set, is told of each request as it goes.
	Sent func(at time.Time)
	// Check reads an answer: the body of a success, or the API's error.
	// shown is the request's path and query, for messages.
	Check func(resp *http.Response, body []byte, shown string) error
	// Retry is the API's retry classifier (rclone's shouldRetry): what a
	// failed request means.
	Retry func(ctx context.Context, err error, try *Try) Decision
}

// Client is the HTTP part of an API client on one key. It is safe for
// concurrent use: all requests share one pacing bucket.
type Client struct {
	Settings
	key       string
	base      *url.URL
	bucket    *budget.Bucket
	rules     Rules
	requests  atomic.Int64
	succeeded atomic.Bool
}

// New returns the client of one key with settings s (the API's defaults)
// changed by opts, paced by a bucket of limit requests per per at headroom.
func New(key string, s Settings, opts []Option, rules Rules, pacing func(Settings) (limit int, per time.Duration, headroom float64)) (*Client, error) {
	for _, o := range opts {
		o(&s)
	}
	if key == "" {
		return nil, errors.New("empty key")
	}
	if s.HTTP == nil {
		s.HTTP = &http.Client{}
	}
	if s.Clock == nil {
		s.Clock = budget.Real{}
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(strings.TrimSuffix(s.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("%s: base URL: %w", rules.Name, err)
	}
	if s.Limit <= 0 || s.Per <= 0 {
		return nil, fmt.Errorf("%s: rate limit must be positive, got %d per %v", rules.Name, s.Limit, s.Per)
	}
	limit, per, headroom := pacing(s)
	b, err := budget.NewBucket(s.Clock, limit, per, headroom)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rules.Name, err)
	}
	if s.Ledger != nil {
		b.UseLedger(s.Ledger)
	}
	return &Client{Settings: s, key: key, base: base, bucket: b, rules: rules}, nil
}

// Requests is the number of HTTP requests sent so far, failures included.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Succeeded reports whether any request on the key has succeeded.
func (c *Client) Succeeded() bool { return c.succeeded.Load() }

// Bucket is the client's pacing bucket.
func (c *Client) Bucket() *budget.Bucket { return c.bucket }

// CoolingUntil is the end of the key's current rate-limit silence, whoever
// recorded it (zero if none).
func (c *Client) CoolingUntil() time.Time { return c.bucket.CoolingUntil() }

// Spent says why the run's own budget forbids another request (an error
// wrapping ErrRunBudget), or nil.
func (c *Client) Spent() error {
	if c.MaxRequests > 0 && c.requests.Load() >= c.MaxRequests {
		return fmt.Errorf("%w: %d of %d requests sent", ErrRunBudget, c.requests.Load(), c.MaxRequests)
	}
	if !c.Deadline.IsZero() && !c.Clock.Now().Before(c.Deadline) {
		return fmt.Errorf("%w: the run's time is up (%s)", ErrRunBudget, c.Deadline.Format(time.RFC3339))
	}
	return nil
}

// Redact hides the key wherever a message echoes it.
func (c *Client) Redact(s string) string {
	if len(c.key) < 4 {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[redacted]")
}

// admit waits until a request may be sent and reserves its slot.
func (c *Client) admit(ctx context.Context) error {
	if err := c.Spent(); err != nil {
		return err
	}
	if c.rules.Admit != nil {
		if err := c.rules.Admit(ctx); err != nil {
			return err
		}
	}
	if err := c.bucket.Wait(ctx); err != nil {
		return err
	}
	return c.Spent() // the wait may have crossed the deadline
}

// Get performs one GET of path (below the base URL) with pacing, the run's
// budget and the API's retry rules, and returns the body of the success.
func (c *Client) Get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	try := Try{Path: "/" + path}
	if len(params) > 0 {
		try.Path += "?" + params.Encode()
	}
	var last error // the last failure, if the request is being asked again
	for {
		if err := c.admit(ctx); err != nil {
			if last != nil {
				// The cause first: a refused connection that the budget
				// stopped retrying is a refused connection.
				return nil, fmt.Errorf("%w (not asked again: %w)", last, err)
			}
			return nil, err
		}
		body, err := c.do(ctx, path, params, try.Path)
		if err == nil {
			c.succeeded.Store(true)
			return body, nil
		}
		d := c.rules.Retry(ctx, err, &try)
		switch {
		case d.Err != nil:
			return nil, d.Err
		case d.Wait > 0:
			last = err
			if spent := c.Spent(); spent != nil {
				// No request is left to send after the wait (check's one):
				// say what stopped it now, not after the limit resets.
				return nil, fmt.Errorf("%w (not asked again: %w)", err, spent)
			}
			if err := c.Clock.Sleep(budget.WithWaitReason(ctx, "rate limit: waiting for the reset the API named"), d.Wait); err != nil {
				return nil, err
			}
		default:
			last = err
			try.Failures++
			if try.Failures > c.Retries {
				return nil, fmt.Errorf("giving up after %d attempts: %w", try.Failures, err)
			}
			if spent := c.Spent(); spent != nil { // no retry to announce
				return nil, fmt.Errorf("%w (not asked again: %w)", err, spent)
			}
			wait := c.Backoff << (try.Failures - 1)
			c.Log.Warn(c.rules.Name+": transient failure; retrying", "path", try.Path, "error", err, "attempt", try.Failures, "wait", wait)
			if err := c.Clock.Sleep(budget.WithWaitReason(ctx, "retry after a transient failure"), wait); err != nil {
				return nil, err
			}
		}
	}
}

// MaxBody bounds one response body: no page of records comes near it (a
// 500-record page is a few hundred kilobytes), and a client that read
// whatever a broken server streamed would run out of memory.
const MaxBody = 64 << 20

// ErrBodyTooLarge is an answer longer than MaxBody, refused unread. It is
// not worth a retry: the same request gets the same answer.
var ErrBodyTooLarge = fmt.Errorf("response body is larger than %d MiB; refused", MaxBody>>20)

// ErrTooDeep is a success nested deeper than encoding/json reads (10,000
// levels). Unlike a truncated body it arrived whole, so the same request
// would get the same answer: refused, not retried.
var ErrTooDeep = errors.New("response is JSON nested more than 10,000 levels deep; refused")

// Refused reports whether err is an answer refused for its size or shape,
// which asking again would not change.
func Refused(err error) bool {
	return errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrTooDeep)
}

func (c *Client) do(ctx context.Context, path string, params url.Values, shown string) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + path
	if params != nil {
		u.RawQuery = params.Encode()
	}
	rctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", shown, err)
	}
	c.rules.Authorize(req.Header)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "repairshop-export")
	c.requests.Add(1)
	if c.rules.Sent != nil {
		c.rules.Sent(c.Clock.Now())
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		// net/http's *url.Error repeats the method and the whole URL,
		// which shown already says: keep what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	defer resp.Body.Close()
	if c.Hook != nil {
		c.Hook(HookAnswered)
	}
	if resp.ContentLength > MaxBody {
		return nil, fmt.Errorf("GET %s: %w (Content-Length %d)", shown, ErrBodyTooLarge, resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", shown, err)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("GET %s: %w", shown, ErrBodyTooLarge)
	}
	return body, c.rules.Check(resp, body, shown)
}

// Garbled says why a success's body cannot be the answer asked for ("":
// it can), for a message that goes on with the body's start: empty, not
// JSON, or the bare literal null (neither a list nor a record: taking it
// for an empty list would end a listing early, and records past it would
// look deleted). Whatever the Content-Type says: the body decides. final
// is ErrTooDeep when asking again cannot help; otherwise nil (retried).
func Garbled(body []byte) (why string, final error) {
	switch t := bytes.TrimSpace(body); {
	case len(t) == 0:
		return "response body is empty", nil
	case string(t) == "null":
		return "response is null, not the list or record asked for: ", nil
	case !json.Valid(t):
		if isHTML(t) {
			return "response is not JSON but ", nil
		}
		if nesting(t) > maxNesting {
			final = ErrTooDeep
		}
		var v json.RawMessage
		if err := json.Unmarshal(t, &v); err != nil {
			return "response is not valid JSON (" + err.Error() + "): ", final
		}
		return "response is not valid JSON: ", final
	}
	return "", nil
}

// maxNesting is the depth encoding/json refuses beyond.
const maxNesting = 10000

// nesting is the deepest nesting of arrays and objects in b (outside
// strings), read the way a JSON scanner would, whether or not b is valid.
func nesting(b []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > deepest {
				deepest = depth
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// Snippet is a body as a message shows it: one line of text, at most
// SnippetMax characters, with "…" where it was cut. An HTML page (a proxy's
// error page, a login page, a website where the API was expected) is
// named by its title instead, never shown: "an HTML page titled "502 Bad
// Gateway"".
func Snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if isHTML(b) {
		m := htmlTitle.FindSubmatch(b[:min(len(b), 64<<10)])
		if m == nil {
			return "an HTML page without a title"
		}
		return fmt.Sprintf("an HTML page titled %q", oneline.Cut(html.UnescapeString(string(m[1])), 80))
	}
	return oneline.Cut(strings.ToValidUTF8(string(b[:min(len(b), 4*SnippetMax)]), "?"), SnippetMax)
}

// SnippetMax bounds a body's excerpt in a message.
const SnippetMax = 120

var htmlTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// isHTML says whether a body is an HTML page rather than data.
func isHTML(b []byte) bool {
	head := bytes.ToLower(b[:min(len(b), 512)])
	return bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html")) ||
		(bytes.HasPrefix(head, []byte("<")) && (bytes.Contains(head, []byte("<head")) || bytes.Contains(head, []byte("<body")) || bytes.Contains(head, []byte("<title"))))
}

// Params copies a resource's parameters for one request.
func Params(p url.Values) url.Values {
	out := url.Values{}
	for k, v := range p {
		out[k] = append([]string(nil), v...)
	}
	return out
}
