package mgr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/rest"
)

var start = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)

// setup starts a simulator and a client for its first shop sharing one
// simulated clock: minutes of pacing run in milliseconds.
func setup(t *testing.T, srvOpts []mgrtest.Option, cliOpts ...mgr.Option) (*mgrtest.Server, *mgr.Client, *budget.Fake) {
	t.Helper()
	clk := budget.NewFake(start)
	srv := mgrtest.NewServer(append([]mgrtest.Option{mgrtest.WithClock(clk), mgrtest.WithTickets(430, 60)}, srvOpts...)...)
	t.Cleanup(srv.Close)
	c, err := mgr.NewClient(srv.Shops[0].Key, append([]mgr.Option{rest.WithBaseURL(srv.URL), rest.WithClock(clk), rest.WithRetries(3, time.Second)}, cliOpts...)...)
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
				if len(p.Dropped) < p.Dupes || len(body)-len(p.Dropped) != len(recs) {
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
	c, _ := mgr.NewClient(srv.Shops[0].Key, rest.WithBaseURL(srv.URL), rest.WithRateLimit(30, 300*time.Millisecond, 0))
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

// listResuming lists tickets the way successive runs do: each stop on a
// rate signal ends the "run", and the next resumes a page before where the
// last one stopped. It returns the ids and how many runs it took.
func listResuming(t *testing.T, c *mgr.Client) ([]string, int) {
	t.Helper()
	var ids []string
	next := 0
	for runs := 1; runs <= 50; runs++ {
		err := c.ListFrom(context.Background(), mgr.Tickets, max(next-mgr.PageSize, 0), func(p mgr.Page) error {
			var recs []struct {
				ID json.Number `json:"id"`
			}
			json.Unmarshal(p.Records, &recs)
			for _, r := range recs {
				ids = append(ids, r.ID.String())
			}
			next = p.Next
			return nil
		})
		if err == nil {
			return ids, runs
		}
		if !errors.Is(err, mgr.ErrRateBudget) {
			t.Fatalf("run %d: %v, want a stop on the rate budget", runs, err)
		}
	}
	t.Fatal("never finished")
	return nil, 0
}

// dedupe keeps the first arrival of each id (a resumed run re-reads one page).
func dedupe(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// assertSilenceAfterSignals checks that after every rate signal (the
// rate-limit error, or a 401 from a key that worked) the key was silent
// for the vendor's full minute.
func assertSilenceAfterSignals(t *testing.T, log []mgrtest.Request) {
	t.Helper()
	for i, r := range log[:len(log)-1] {
		if r.RateLimited || r.Status == http.StatusUnauthorized {
			if gap := log[i+1].Time.Sub(r.Time); gap < mgr.MinCooldown {
				t.Errorf("request %d came %v after a rate signal, want ≥ %v", i+1, gap, mgr.MinCooldown)
			}
		}
	}
}

func TestUnauthorizedAfterSuccessIsARateSignal(t *testing.T) {
	srv, c, clk := setup(t, nil)
	_, err := listAll(t, c, func(p mgr.Page) {
		if p.Params.Get("offset") == "0" {
			srv.Inject(mgrtest.Fault{Unauthorized: 1})
		}
	})
	if !errors.Is(err, mgr.ErrRateBudget) || errors.Is(err, mgr.ErrAuth) {
		t.Fatalf("401 under throttling: %v, want a rate signal that stops the account (not a bad key)", err)
	}
	if until := c.CoolingUntil(); until.Sub(clk.Now()) < mgr.MinCooldown-time.Second {
		t.Errorf("silence until %v, now %v: want a full minute", until, clk.Now())
	}
	n := len(srv.Log())
	if srv.Log()[n-1].Status != http.StatusUnauthorized {
		t.Errorf("a request followed the 401 in the same run")
	}
	ids, _ := listResuming(t, c)
	assertExactlyOnce(t, dedupe(ids), srv.Shops[0].TicketIDs())
	assertSilenceAfterSignals(t, srv.Log())
}

func TestUnauthorizedFirstIsFatal(t *testing.T) {
	srv, _, clk := setup(t, nil)
	c, _ := mgr.NewClient("not-a-key", rest.WithBaseURL(srv.URL), rest.WithClock(clk))
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
	// status, the message gives it away. The client stops the account at
	// the first signal, and the next run waits out the minute.
	for _, status := range []int{http.StatusTooManyRequests, http.StatusBadRequest, http.StatusForbidden, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			// A client misconfigured to twice the real limit.
			srv, c, _ := setup(t, []mgrtest.Option{mgrtest.WithRateLimitStatus(status), mgrtest.WithTickets(3000, 10)}, rest.WithRateLimit(60, time.Minute, 1))
			ids, runs := listResuming(t, c)
			assertExactlyOnce(t, dedupe(ids), srv.Shops[0].TicketIDs())
			if srv.Blocked("north") {
				t.Fatal("key blocked")
			}
			errs := srv.RateLimitErrors("north")
			if errs == 0 {
				t.Fatal("the test never provoked a rate-limit error")
			}
			if errs != runs-1 {
				t.Errorf("%d rate-limit errors over %d runs: want one per stopped run, never a second strike", errs, runs)
			}
			assertSilenceAfterSignals(t, srv.Log())
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
	srv, c, _ := setup(t, nil, rest.WithRequestTimeout(100*time.Millisecond))
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

func TestLooseOrderingAcrossPageBoundariesLosesNothing(t *testing.T) {
	srv, c, _ := setup(t, nil)
	// Every page boundary trades places with its neighbour: without the
	// overlap, each page would repeat one ticket and skip another.
	srv.Inject(mgrtest.Fault{Reorder: 100})
	ids, err := listAll(t, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())
}

func TestGarbledResponsesAreRetried(t *testing.T) {
	for name, f := range map[string]mgrtest.Fault{
		"truncated JSON":      {Truncated: 2},
		"HTML page with 200":  {HTMLPage: 2},
		"5xx burst":           {ServerErrors: 3},
		"mixed garbage burst": {Truncated: 1, HTMLPage: 1, ServerErrors: 1},
	} {
		t.Run(name, func(t *testing.T) {
			var logs strings.Builder
			srv, c, _ := setup(t, nil, rest.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			srv.Inject(f)
			ids, err := listAll(t, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			assertExactlyOnce(t, ids, srv.Shops[0].TicketIDs())
			if !strings.Contains(logs.String(), "transient failure; retrying") {
				t.Errorf("no log line for the retried failure:\n%s", logs.String())
			}
		})
	}
}

func TestRunBudgetStopsBeforeSending(t *testing.T) {
	srv, c, _ := setup(t, nil, rest.WithRunBudget(4, time.Time{}))
	_, err := listAll(t, c, nil)
	if !errors.Is(err, mgr.ErrRunBudget) || len(srv.Log()) != 4 {
		t.Fatalf("err %v after %d requests; want ErrRunBudget after exactly 4", err, len(srv.Log()))
	}
	srv2, c2, _ := setup(t, nil, rest.WithRunBudget(0, start.Add(10*time.Second)))
	_, err = listAll(t, c2, nil)
	if !errors.Is(err, mgr.ErrRunBudget) {
		t.Fatalf("deadline: %v", err)
	}
	// 10 s at 27 requests a minute: 5 requests, none after the deadline.
	if n := len(srv2.Log()); n < 4 || n > 6 {
		t.Errorf("%d requests in 10 s", n)
	}
	for _, r := range srv2.Log() {
		if r.Time.After(start.Add(10 * time.Second)) {
			t.Errorf("request at %v, after the deadline", r.Time)
		}
	}
}

func TestFingerprint(t *testing.T) {
	res := mgr.TicketInvoices
	a := mgr.Fingerprint(res, json.RawMessage(`{"id":"1","status":"Paid","amount_total":"10.00","customer":{"name":"A"}}`))
	sameFields := mgr.Fingerprint(res, json.RawMessage(`{"customer":{"name":"B"},"amount_total":"10.00","status":"Paid","id":"1"}`))
	paid := mgr.Fingerprint(res, json.RawMessage(`{"id":"1","status":"Partially Paid","amount_total":"10.00"}`))
	if a != sameFields {
		t.Error("fields outside the fingerprint (or key order) changed it")
	}
	if a == paid {
		t.Error("a status change did not change the fingerprint")
	}
	// Unknown spellings: the whole record counts.
	x := mgr.Fingerprint(res, json.RawMessage(`{"id":"1","Total":"10.00"}`))
	y := mgr.Fingerprint(res, json.RawMessage(`{"id":"1","Total":"12.00"}`))
	if x == y {
		t.Error("a record with none of the known fields: a change went unnoticed")
	}
}

func TestBlockedKeyStopsAtOnce(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"error":%q}`, mgrtest.BlockedMessage)
	}))
	defer srv.Close()
	c, _ := mgr.NewClient("k", rest.WithBaseURL(srv.URL), rest.WithClock(budget.NewFake(start)))
	_, err := listAll(t, c, nil)
	if !errors.Is(err, mgr.ErrBlocked) || n != 1 {
		t.Fatalf("err %v after %d requests; want ErrBlocked after one (retrying a block only extends it)", err, n)
	}
}
