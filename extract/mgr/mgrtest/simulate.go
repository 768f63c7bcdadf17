package mgrtest

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
)

// Simulator serves the simulator for `export simulate`.
var Simulator = extract.Simulator{
	Source: "mgr",
	Flags: []extract.SimFlag{
		{Name: "addr", Default: "127.0.0.1:0", Usage: "listen address (port 0 picks a free one)"},
		{Name: "rate", Default: DefaultLimit, Usage: "requests per minute per key the simulator allows"},
		{Name: "tickets", Usage: "MGR tickets per shop, in shop order (the other resources scale with them; default 1800,1600)"},
	},
	Start: func(f extract.FlagValues, _ io.Writer) (*extract.Simulation, error) {
		rate := f.Int("rate")
		srv, err := Start(WithAddr(f.String("addr")), WithRateLimit(rate, time.Minute), WithTickets(f.IntSlice("tickets")...))
		if err != nil {
			return nil, err
		}
		sim := &extract.Simulation{Banner: fmt.Sprintf("My Gadget Repairs simulator at %s (%d requests/min per key)", srv.URL, rate), Close: srv.Close}
		for _, sh := range srv.Shops {
			env := "MGR_" + strings.ToUpper(sh.Name) + "_KEY"
			sim.Accounts = append(sim.Accounts, extract.SimAccount{
				Name: sh.Name, KeyEnv: env, Key: sh.Key, BaseURL: srv.URL,
				Line:    fmt.Sprintf("shop %-6s key %s (as %s; %d tickets)", sh.Name, sh.Key, env, sh.Tickets()),
				Options: map[string]any{"requests_per_minute": rate},
			})
		}
		return sim, nil
	},
}
