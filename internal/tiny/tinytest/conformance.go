package tinytest

import (
	"testing"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/extracttest"
)

// Conformance starts the simulator for extracttest.Conformance.
func Conformance(t *testing.T, clk *budget.Fake) *extracttest.Sim {
	s := NewServer(clk, 230)
	sim := &extracttest.Sim{URL: s.URL, Wire: s.Wire, Close: s.Close}
	for _, a := range s.Accounts {
		sim.Accounts = append(sim.Accounts, extracttest.SimKey{Name: a.Name, Key: a.Key})
	}
	sim.Rows = func(account string) map[string]int { return map[string]int{"tiny.jobs": len(s.JobIDs(account))} }
	sim.Churn = func(account string) (added, deleted []string) {
		ids := s.JobIDs(account)
		deleted = []string{ids[1], ids[len(ids)/2]}
		for _, id := range deleted {
			s.Delete(account, id)
		}
		return s.Add(account, 3), deleted
	}
	sim.Change = func(account string) []string {
		ids := s.JobIDs(account)
		changed := []string{ids[5], ids[len(ids)-1]}
		for _, id := range changed {
			s.Change(account, id, "done")
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
			s.Inject(Fault{Delay: after, ServerError: all})
		default:
			return false // Tiny documents no 403
		}
		return true
	}
	sim.RateLimited = s.RateLimited
	return sim
}
