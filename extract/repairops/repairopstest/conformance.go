package repairopstest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/extracttest"
)

// Conformance starts the simulator for the conformance suite
// (extracttest.Conformance): two small organisations at RepairOps'
// documented quotas, in clk's time.
func Conformance(t *testing.T, clk *budget.Fake) *extracttest.Sim {
	s := NewServer(WithClock(clk), WithTickets(90, 20))
	sim := &extracttest.Sim{URL: s.URL, Wire: s.Wire, Close: s.Close}
	for _, o := range s.Orgs {
		sim.Accounts = append(sim.Accounts, extracttest.SimKey{Name: o.Name, Key: o.Key})
	}
	sim.Rows = func(account string) map[string]int {
		out := map[string]int{}
		for table, e := range s.Expected(account) {
			out[table] = e.Rows
		}
		return out
	}
	sim.Churn = func(account string) (added, deleted []string) {
		ids := s.Org(account).TicketIDs()
		for _, id := range []string{ids[2], ids[len(ids)/2]} {
			if err := s.Delete(account, "tickets", id); err != nil {
				t.Fatal(err)
			}
			deleted = append(deleted, id)
		}
		added, err := s.AddTickets(account, 2, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return added, deleted
	}
	sim.Change = func(account string) []string {
		ids, err := s.ChangeTickets(account, 2, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	sim.Fail = func(status, after int) bool {
		const all = 1 << 20
		switch {
		case status == 401:
			s.Inject(Fault{Delay: after, Unauthorized: all})
		case status == 403:
			s.Inject(Fault{Delay: after, Forbidden: all})
		case status == 429:
			s.Inject(Fault{Delay: after, RateLimited: all})
		case status >= 500:
			s.Inject(Fault{Delay: after, ServerErrors: all})
		default:
			return false
		}
		return true
	}
	sim.RateLimited = func(account string) int { return s.Count(account, 429, "") }
	sim.Details = func(account string) map[string]int {
		out := map[string]int{}
		for _, r := range s.Log() {
			res, id, ok := strings.Cut(strings.TrimPrefix(r.Path, "/v1/"), "/")
			if r.Org == account && r.Status == http.StatusOK && ok && !strings.Contains(id, "/") && (res == "tickets" || res == "customers") {
				out[res+"/"+id]++
			}
		}
		return out
	}
	for _, f := range []struct {
		name  string
		fault Fault
	}{
		{"a burst of 500s", Fault{ServerErrors: 3}},
		{"truncated bodies", Fault{Delay: 3, Truncated: 2}},
		{"an HTML page with status 200", Fault{HTMLPage: 2}},
		{"null instead of the records", Fault{NullData: 2}},
		{"a page served twice", Fault{DuplicatePage: 1}},
		{"pages shifted by a record added at the head", Fault{Shift: 1}},
		{"pages shifted by a record deleted at the head", Fault{Unshift: 1}},
		{"a 429 although the quota has room", Fault{RateLimited: 1}},
	} {
		sim.Faults = append(sim.Faults, extracttest.Fault{Name: f.name, Inject: func() { s.Inject(f.fault) }})
	}
	return sim
}
