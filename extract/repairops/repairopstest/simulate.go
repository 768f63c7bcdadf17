package repairopstest

import (
	"fmt"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
)

// Simulator serves the simulator for `export simulate`.
var Simulator = extract.Simulator{
	Source: "repairops",
	Flags: []extract.SimFlag{
		{Name: "repairops-addr", Default: "127.0.0.1:0", Usage: "RepairOps listen address"},
		{Name: "repairops-rate", Default: DefaultQuotas["read"], Usage: "RepairOps requests per hour per Read key"},
		{Name: "repairops-tickets", Usage: "RepairOps tickets per organisation (default 1500,400)"},
	},
	Start: func(f extract.FlagValues) (*extract.Simulation, error) {
		rate := f.Int("repairops-rate")
		srv, err := Start(WithAddr(f.String("repairops-addr")), WithQuota(rate, time.Hour), WithTickets(f.IntSlice("repairops-tickets")...))
		if err != nil {
			return nil, err
		}
		sim := &extract.Simulation{Banner: fmt.Sprintf("RepairOps simulator at %s (%d requests/hour per Read key)", srv.URL, rate), Close: srv.Close}
		for _, o := range srv.Orgs {
			env := "REPAIROPS_" + strings.ToUpper(o.Name) + "_KEY"
			sim.Accounts = append(sim.Accounts, extract.SimAccount{
				Name: o.Name, KeyEnv: env, Key: o.Key, BaseURL: srv.URL,
				Line:    fmt.Sprintf("organisation %-6s key %s (as %s; %d shops, %d tickets)", o.Name, o.Key, env, len(o.Shops), o.Tickets()),
				Options: map[string]any{"requests_per_hour": rate},
			})
		}
		return sim, nil
	},
}
