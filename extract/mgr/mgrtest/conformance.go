package mgrtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/extracttest"
)

// Conformance starts the simulator for the conformance suite
// (extracttest.Conformance): two small shops at MGR's documented limit, in
// clk's time.
func Conformance(t *testing.T, clk *budget.Fake) *extracttest.Sim {
	s := NewServer(WithClock(clk), WithTickets(70, 15))
	sim := &extracttest.Sim{URL: s.URL, Wire: s.Wire, Close: s.Close}
	for _, sh := range s.Shops {
		sim.Accounts = append(sim.Accounts, extracttest.SimKey{Name: sh.Name, Key: sh.Key})
	}
	sim.Rows = func(account string) map[string]int {
		out := map[string]int{}
		sh := s.Shop(account)
		for table, e := range sh.Expected() {
			out[table] = e.Rows
		}
		// Expected keeps counting deleted records (the warehouse keeps
		// them, marked); the list holds what is left.
		out["mgr.tickets"] = sh.Tickets()
		return out
	}
	// MGR's list is newest first: a ticket deleted from the tail's side
	// moves nothing the client has read; one from the head moves every
	// later page. A record added at the head is OffsetDrift's shift (the
	// simulator's tickets are seeded, not created).
	sim.Churn = func(account string) (added, deleted []string) {
		ids := s.Shop(account).TicketIDs()
		for _, id := range []string{ids[1], ids[len(ids)/2]} {
			if err := s.Delete(account, "tickets", id); err != nil {
				t.Fatal(err)
			}
			deleted = append(deleted, id)
		}
		s.Inject(Fault{OffsetDrift: 2})
		return nil, deleted
	}
	sim.Change = func(account string) []string {
		ids := s.Shop(account).TicketIDs()
		changed := []string{ids[3], ids[len(ids)-2]}
		for _, id := range changed {
			if err := s.SetTicketStatus(account, id, "Collected", clk.Now()); err != nil {
				t.Fatal(err)
			}
		}
		return changed
	}
	sim.Fail = func(status, after int) bool {
		const all = 1 << 20
		switch {
		case status == 401:
			s.Inject(Fault{Delay: after, Unauthorized: all})
		case status == 429:
			s.Inject(Fault{Delay: after, RateLimited: all})
		case status >= 500:
			s.Inject(Fault{Delay: after, ServerErrors: all})
		default:
			return false // MGR documents no other refusal (its 403 is the six-hour block)
		}
		return true
	}
	sim.RateLimited = func(account string) int { return s.RateLimitErrors(account) }
	sim.Details = func(account string) map[string]int {
		out := map[string]int{}
		for _, r := range s.Log() {
			res, id, ok := strings.Cut(strings.TrimPrefix(r.Path, "/v1/"), "/")
			if r.Shop == account && r.Status == http.StatusOK && ok && !strings.Contains(id, "/") {
				if canon, known := s.spelling(res + "/" + id); known {
					if cres, _, _ := strings.Cut(canon, "/"); detailPaths[cres] {
						out[strings.ToLower(cres)+"/"+id]++
					}
				}
			}
		}
		return out
	}
	for _, f := range []struct {
		name  string
		fault Fault
	}{
		{"a burst of 503s", Fault{ServerErrors: 3}},
		{"truncated bodies", Fault{Delay: 3, Truncated: 2}},
		{"an HTML page with status 200", Fault{HTMLPage: 2}},
		{"null instead of the records", Fault{Delay: 2, Null: 2}},
		{"a page served twice", Fault{DuplicatePage: 1}},
		{"pages shifted by a record added at the head", Fault{OffsetDrift: 2}},
		{"pages shifted by a record deleted at the head", Fault{OffsetDriftBack: 1}},
		{"neighbours swapped across a page boundary", Fault{Reorder: 2}},
	} {
		sim.Faults = append(sim.Faults, extracttest.Fault{Name: f.name, Inject: func() { s.Inject(f.fault) }})
	}
	if len(s.Shops) == 0 {
		t.Fatal(fmt.Errorf("mgrtest: no shops"))
	}
	return sim
}
