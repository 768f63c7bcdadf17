package mgr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/mgr/mgrtest"
)

var start = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)

// setup starts a simulator and a client for its first shop sharing one
// simulated clock: minutes of pacing run in milliseconds.
func setup(t *testing.T, srvOpts []mgrtest.Option, cliOpts ...mgr.Option) (*mgrtest.Server, *mgr.Client, *budget.Fake) {
	t.Helper()
	clk := budget.NewFake(start)
	srv := mgrtest.NewServer(append([]mgrtest.Option{mgrtest.WithClock(clk), mgrtest.WithTickets(430, 60)}, srvOpts...)...)
	t.Cleanup(srv.Close)
	c, err := mgr.NewClient(srv.Shops[0].Key, append([]mgr.Option{mgr.WithBaseURL(srv.URL), mgr.WithClock(clk), mgr.WithRetries(3, time.Second)}, cliOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, clk
}

// listAll lists tickets and returns every id received, in order.
func listAll(t *testing.T, c *mgr.Client, each func(mgr.Page)) ([]string, error) {
	t.Helper()
	var ids []string
	err := c.List(context.Background(), mgr.Tickets, func(p mgr.Page) error {
		var recs []struct {
			ID json.Number `json:"id"`
		}
		if err := json.Unmarshal(p.Records, &recs); err != nil {
			t.Fatalf("page records: %v", err)
		}
		for _, r := range recs {
			ids = append(ids, r.ID.String())
		}
		if each != nil {
			each(p)
		}
		return nil
	})
	return ids, err
}

func assertExactlyOnce(t *testing.T, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("ticket %s arrived %d times", id, n)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("ticket %s never arrived", id)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct tickets, want %d", len(seen), len(want))
	}
}

func TestEveryTicketExactlyOnce(t *testing.T) {
	for _, drift := range []int{0, 3} {
		t.Run(fmt.Sprintf("offset drift on %d pages", drift), func(t *testing.T) {
			srv, c, _ := setup(t, nil)
			srv.Inject(mgrtest.Fault{OffsetDrift: drift})
			dupes := 0
			ids, err := listAll(t, c, func(p mgr.Page) {
				dupes += p.Dupes
				// Dropped points at the repeats in the body as received, so
				// the archived body replays to exactly Records.
				var body, recs []json.RawMessage
				json.Unmarshal(p.Body, &body)
				json.Unmarshal(p.Records, &recs)
				if len(p.Dropped) != p.Dupes || len(body)-len(p.Dropped) != len(recs) {
					t.Errorf("page at %s: %d in body, %d records, dropped %v", p.Params.Get("offset"), len(body), len(recs), p.Dropped)
				}
				if p.Next != mustAtoi(p.Params.Get("offset"))+len(body) || p.Last != (len(body) < mgr.PageSize) {
					t.Errorf("page at %s: next %d, last %v", p.Params.Get("offset"), p.Next, p.Last)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())
			if dupes != drift {
				t.Errorf("dropped %d repeated records, want %d", dupes, drift)
			}
		})
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestListFromResumesAtAnOffset(t *testing.T) {
	srv, c, _ := setup(t, nil)
	all := srv.Shops[0].TicketIDs()
	var ids []string
	err := c.ListFrom(context.Background(), mgr.Tickets, 100, func(p mgr.Page) error {
		var recs []struct {
			ID json.Number `json:"id"`
		}
		json.Unmarshal(p.Records, &recs)
		for _, r := range recs {
			ids = append(ids, r.ID.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, ids, all[100:])
}

func TestDefaultPacingNeverHitsTheLimit(t *testing.T) {
	srv, c, clk := setup(t, nil)
	if _, err := listAll(t, c, nil); err != nil {
		t.Fatal(err)
	}
	reqs := len(srv.Log())
	if reqs != 9 || c.Requests() != 9 {
		t.Fatalf("%d requests (client counted %d), want 9 pages of 50 for 430 tickets", reqs, c.Requests())
	}
	if n := srv.RateLimitErrors("north"); n != 0 {
		t.Fatalf("%d rate-limit errors with default pacing, want 0", n)
	}
	// Paced below 30/min: 8 gaps of at least 60/27 s.
	if took := clk.Now().Sub(start); took < 8*60*time.Second/27 {
		t.Errorf("9 requests took %v of simulated time: faster than 27/min", took)
	}
}

func TestDefaultPacingRealTime(t *testing.T) {
	// Real clock, real sockets, a scaled window: 30 requests per 300 ms.
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(30, 300*time.Millisecond), mgrtest.WithTickets(1600, 10))
	defer srv.Close()
	c, _ := mgr.NewClient(srv.Shops[0].Key, mgr.WithBaseURL(srv.URL), mgr.WithRateLimit(30, 300*time.Millisecond, 0))
	ids, err := listAll(t, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())
	if n := srv.RateLimitErrors("north"); n != 0 {
		t.Fatalf("%d rate-limit errors, want 0", n)
	}
}

// gapAfter returns the simulated time between the first request answered
// with status and the request after it.
func gapAfter(t *testing.T, log []mgrtest.Request, match func(mgrtest.Request) bool) time.Duration {
	t.Helper()
	for i, r := range log {
		if match(r) {
			if i+1 == len(log) {
				t.Fatal("no request after the signal")
			}
			return log[i+1].Time.Sub(r.Time)
		}
	}
	t.Fatal("signal never sent")
	return 0
}

func TestUnauthorizedAfterSuccessIsARateSignal(t *testing.T) {
	srv, c, _ := setup(t, nil)
	injected := false
	ids, err := listAll(t, c, func(mgr.Page) {
		if !injected {
			srv.Inject(mgrtest.Fault{Unauthorized: 2})
			injected = true
		}
	})
	if err != nil {
		t.Fatalf("401 under throttling was fatal: %v", err)
	}
	assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())
	log := srv.Log()
	for i, r := range log {
		if r.Status == http.StatusUnauthorized {
			if gap := log[i+1].Time.Sub(r.Time); gap < mgr.MinCooldown {
				t.Errorf("request %d came %v after a 401, want ≥ %v", i+1, gap, mgr.MinCooldown)
			}
		}
	}
}

func TestUnauthorizedFirstIsFatal(t *testing.T) {
	srv, _, clk := setup(t, nil)
	c, _ := mgr.NewClient("not-a-key", mgr.WithBaseURL(srv.URL), mgr.WithClock(clk))
	_, err := listAll(t, c, nil)
	if !errors.Is(err, mgr.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if n := len(srv.Log()); n != 1 {
		t.Errorf("%d requests with a refused key, want 1", n)
	}
}

func TestRateLimitErrorRecognisedAndObeyed(t *testing.T) {
	// The docs give no status code for the rate-limit error: whatever the
	// status, the message gives it away, and the client pauses a minute.
	for _, status := range []int{http.StatusTooManyRequests, http.StatusBadRequest, http.StatusForbidden, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			// A client misconfigured to twice the real limit.
			srv, c, _ := setup(t, []mgrtest.Option{mgrtest.WithRateLimitStatus(status), mgrtest.WithTickets(3000, 10)}, mgr.WithRateLimit(60, time.Minute, 1))
			ids, err := listAll(t, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())
			if srv.Blocked("north") {
				t.Fatal("key blocked")
			}
			if srv.RateLimitErrors("north") == 0 {
				t.Fatal("the test never provoked a rate-limit error")
			}
			log := srv.Log()
			for i, r := range log[:len(log)-1] {
				if r.RateLimited {
					if gap := log[i+1].Time.Sub(r.Time); gap < mgr.MinCooldown {
						t.Errorf("request %d came %v after a rate-limit error, want ≥ %v", i+1, gap, mgr.MinCooldown)
					}
				}
			}
		})
	}
}

func TestServerErrorsRetriedWithBound(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.Inject(mgrtest.Fault{ServerErrors: 2})
	ids, err := listAll(t, c, nil)
	if err != nil {
		t.Fatalf("two 503s: %v", err)
	}
	assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())

	srv, c, _ = setup(t, nil)
	srv.Inject(mgrtest.Fault{ServerErrors: 100})
	_, err = listAll(t, c, nil)
	var ae *mgr.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("persistent 503: err = %v, want the APIError", err)
	}
	if n := len(srv.Log()); n != 4 {
		t.Errorf("%d attempts, want 1 + 3 retries", n)
	}
}

func TestTimeoutsRetried(t *testing.T) {
	srv, c, _ := setup(t, nil, mgr.WithRequestTimeout(100*time.Millisecond))
	srv.Inject(mgrtest.Fault{Stall: 2, StallFor: 2 * time.Second})
	ids, err := listAll(t, c, nil)
	if err != nil {
		t.Fatalf("two stalled requests: %v", err)
	}
	assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())
	if got, answered := c.Requests(), len(srv.Log()); got != int64(answered)+2 {
		t.Errorf("client sent %d requests, server answered %d; want 2 timed out and retried", got, answered)
	}
}

func TestErrorsNeverShowTheKey(t *testing.T) {
	srv, c, _ := setup(t, nil)
	srv.Inject(mgrtest.Fault{ServerErrors: 100})
	_, err := listAll(t, c, nil)
	if err == nil || strings.Contains(err.Error(), srv.Shops[0].Key) {
		t.Fatalf("err = %v", err)
	}
}
