package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
)

// errStatus is a test API's error.
type errStatus int

func (e errStatus) Error() string { return fmt.Sprintf("HTTP %d", int(e)) }

// testRules: 5xx is transient, 429 waits a second (twice at most), any
// other status ends the call.
func testRules(key string) Rules {
	return Rules{
		Name:      "test",
		Authorize: func(h http.Header) { h.Set("Authorization", "Key "+key) },
		Check: func(resp *http.Response, body []byte, shown string) error {
			if resp.StatusCode != http.StatusOK {
				return errStatus(resp.StatusCode)
			}
			return nil
		},
		Retry: func(_ context.Context, err error, try *Try) Decision {
			var st errStatus
			switch {
			case errors.As(err, &st) && st == 429:
				if try.Limited++; try.Limited > 2 {
					return Decision{Err: fmt.Errorf("limited: %w", err)}
				}
				return Decision{Wait: time.Second}
			case errors.As(err, &st) && st >= 500:
				return Decision{}
			}
			return Decision{Err: err}
		},
	}
}

func client(t *testing.T, url string, clk budget.Clock, opts ...Option) *Client {
	t.Helper()
	s := Settings{BaseURL: url, Limit: 600, Per: time.Minute, Retries: 2, Backoff: time.Second, Timeout: time.Second}
	c, err := New("k-secret", s, append([]Option{WithClock(clk)}, opts...), testRules("k-secret"), func(s Settings) (int, time.Duration, float64) { return s.Limit, s.Per, s.Headroom })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// server answers the statuses in order, then 200.
func server(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if r.Header.Get("Authorization") != "Key k-secret" {
			w.WriteHeader(401)
			return
		}
		if i < len(statuses) {
			w.WriteHeader(statuses[i])
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestTheRetryLoopFollowsTheRules(t *testing.T) {
	for _, tt := range []struct {
		name     string
		statuses []int
		ok       bool
		sent     int32
		slept    time.Duration // backoff and waits on the fake clock, beyond pacing
	}{
		{"a success", nil, true, 1, 0},
		{"transient failures are retried with backoff", []int{503, 500}, true, 3, 3 * time.Second},
		{"retries are bounded", []int{503, 503, 503, 503}, false, 3, 3 * time.Second},
		{"a rate limit waits as the rules say", []int{429, 429}, true, 3, 2 * time.Second},
		{"and stops when they say", []int{429, 429, 429}, false, 3, 2 * time.Second},
		{"anything else ends the call", []int{404}, false, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clk := budget.NewFake(start)
			srv, n := server(t, tt.statuses...)
			c := client(t, srv.URL, clk)
			body, err := c.Get(context.Background(), "things", nil)
			if (err == nil) != tt.ok || n.Load() != tt.sent || (tt.ok && string(body) != `{"ok":true}`) {
				t.Fatalf("body %s, err %v after %d requests; want ok=%v after %d", body, err, n.Load(), tt.ok, tt.sent)
			}
			pacing := time.Duration(tt.sent-1) * c.Bucket().Interval()
			if slept := clk.Now().Sub(start); slept < tt.slept || slept > tt.slept+pacing {
				t.Errorf("slept %v, want %v plus pacing (≤ %v)", slept, tt.slept, pacing)
			}
			if c.Requests() != int64(tt.sent) {
				t.Errorf("counted %d requests, sent %d", c.Requests(), tt.sent)
			}
		})
	}
}

func TestTheRunBudgetStopsBeforeSending(t *testing.T) {
	clk := budget.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv, n := server(t)
	c := client(t, srv.URL, clk, WithRunBudget(2, time.Time{}))
	for range 2 {
		if _, err := c.Get(context.Background(), "things", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(context.Background(), "things", nil); !errors.Is(err, ErrRunBudget) || n.Load() != 2 {
		t.Fatalf("third request: %v after %d sent; want ErrRunBudget after 2", err, n.Load())
	}
	late := client(t, srv.URL, clk, WithRunBudget(0, clk.Now().Add(-time.Second)))
	if _, err := late.Get(context.Background(), "things", nil); !errors.Is(err, ErrRunBudget) || !strings.Contains(err.Error(), "time is up") {
		t.Fatalf("past the deadline: %v", err)
	}
}

// A failure that the run budget stops retrying is still that failure:
// `check` (one request) must say what failed, not "budget spent".
func TestABudgetThatStopsARetryKeepsTheCause(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	c := client(t, srv.URL, budget.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), WithRunBudget(1, time.Time{}))
	_, err := c.Get(context.Background(), "things", nil)
	var st errStatus
	if !errors.As(err, &st) || st != 503 || !errors.Is(err, ErrRunBudget) {
		t.Fatalf("err = %v; want the 503, wrapping the budget", err)
	}
	if msg := err.Error(); strings.Index(msg, "503") > strings.Index(msg, "budget") {
		t.Errorf("%q: the cause must come first", msg)
	}
}

// A rate limit that would be waited out, with no request left to send
// after it, ends the call at once: `check` must not sit until the reset.
func TestAWaitWithNothingLeftToSendIsNotWaited(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(429) }))
	defer srv.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := budget.NewFake(start)
	c := client(t, srv.URL, clk, WithRunBudget(1, time.Time{}))
	_, err := c.Get(context.Background(), "things", nil)
	var st errStatus
	if !errors.As(err, &st) || st != 429 || !errors.Is(err, ErrRunBudget) {
		t.Fatalf("err = %v; want the 429, wrapping the budget", err)
	}
	if waited := clk.Now().Sub(start); waited >= time.Second {
		t.Errorf("waited %s for a reset it could not use", waited)
	}
}

func TestTheKeyIsRedacted(t *testing.T) {
	c := client(t, "http://127.0.0.1:1", budget.Real{})
	if got := c.Redact("echo: k-secret, again k-secret"); strings.Contains(got, "k-secret") {
		t.Errorf("redacted %q", got)
	}
}

// A body over MaxBody is refused, with or without a Content-Length, after
// reading at most MaxBody+1 bytes of it (none with the header): a 200 MB
// answer never sits in memory whole.
func TestAHugeBodyIsRefusedUnread(t *testing.T) {
	const huge = 200 << 20
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("Content-Length declared %v", declared), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if declared {
					w.Header().Set("Content-Length", fmt.Sprint(huge))
				}
				chunk := []byte(strings.Repeat(" ", 1<<20))
				for n := 0; n < huge>>20; n++ {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}))
			defer srv.Close()
			// The bound is checked by the bytes the client read, not by
			// the time it took: the request's timeout is far beyond any
			// machine's time to read 64 MiB, even under the race detector.
			read := &countingTransport{base: http.DefaultTransport}
			c := client(t, srv.URL, budget.Real{}, WithHTTPClient(&http.Client{Transport: read}), WithRequestTimeout(10*time.Minute))
			_, err := c.Get(context.Background(), "page", nil)
			if !errors.Is(err, ErrBodyTooLarge) || !strings.Contains(err.Error(), "larger than 64 MiB") {
				t.Fatalf("err = %v, want ErrBodyTooLarge", err)
			}
			limit := int64(MaxBody + 1) // one byte past the bound tells it is over
			if declared {
				limit = 0 // refused on the header, unread
			}
			if got := read.n.Load(); got > limit {
				t.Errorf("the client read %d bytes of the body; the bound is %d", got, limit)
			}
			if c.Requests() != 1 {
				t.Errorf("%d requests, want 1: a body too large is not worth a retry", c.Requests())
			}
		})
	}
}

// countingTransport counts the response body bytes its client reads.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// A garbled success is retried, except one that arrived whole and would be
// the same again: JSON nested deeper than encoding/json reads.
func TestGarbledSaysWhetherAskingAgainCanHelp(t *testing.T) {
	deep := func(n int, end string) string { return strings.Repeat(`{"a":[`, n/2) + end }
	for _, c := range []struct {
		name, body, why string
		final           error
	}{
		{"a list", `[{"id": 1}]`, "", nil},
		{"empty", "  \n", "empty", nil},
		{"null", "null", "null", nil},
		{"html", "<html>busy</html>", "not JSON but ", nil},
		{"truncated", `[{"id": 1}, {"id"`, "not valid JSON", nil},
		{"10,002 deep and whole", deep(10002, "1"+strings.Repeat("]}", 5001)), "exceeded max depth", ErrTooDeep},
		{"10,002 deep and cut short", deep(10002, "1]}"), "not valid JSON", ErrTooDeep},
		{"9,998 deep and cut short", deep(9998, "1]}"), "not valid JSON", nil},
		{"brackets inside strings do not count", `[{"a": "` + strings.Repeat(`[{\"`, 20000) + `"`, "not valid JSON", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			why, final := Garbled([]byte(c.body))
			if (c.why == "") != (why == "") || !strings.Contains(why, c.why) {
				t.Errorf("why = %q, want it to say %q", why, c.why)
			}
			if final != c.final {
				t.Errorf("final = %v, want %v", final, c.final)
			}
		})
	}
}

func TestASnippetIsOneShortLineOfText(t *testing.T) {
	long := strings.Repeat("word ", 100)
	cases := []struct {
		name, body, want string
	}{
		{"JSON as it came", `{"error":"Invalid API key"}`, `{"error":"Invalid API key"}`},
		{"lines joined", "Service\n\n  Unavailable\r\n", "Service Unavailable"},
		{"long text cut at 120", long, strings.Repeat("word ", 23) + "word…"},
		{"an HTML page by its title", "<!DOCTYPE html>\n<html><head><title>502 Bad   Gateway</title></head><body><h1>502</h1>" + long + "</body></html>", `an HTML page titled "502 Bad Gateway"`},
		{"an HTML fragment", "<html><body>Sign in to continue</body></html>", "an HTML page without a title"},
		{"an entity in a title", "<html><head><title>Tom &amp; Jerry&#39;s Repairs</title></head></html>", `an HTML page titled "Tom & Jerry's Repairs"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Snippet([]byte(c.body))
			if got != c.want {
				t.Errorf("Snippet = %q, want %q", got, c.want)
			}
			if n := len([]rune(got)); n > SnippetMax || strings.ContainsAny(got, "\n<>") && !strings.HasPrefix(got, "an HTML") && !strings.HasPrefix(c.body, "{") {
				t.Errorf("%q: %d characters, or markup/newlines", got, n)
			}
		})
	}
}
