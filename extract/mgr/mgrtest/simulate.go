package mgrtest

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
)

// Simulator serves the simulator for `repairshop-export simulate`.
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
		limits := fmt.Sprintf("%d requests/min per key, the real API's limit; --rate 6000 runs it fast", rate)
		override := false
		if rate > DefaultLimit {
			limits = fmt.Sprintf("%d requests/min per key, above the real API's %d; the config it writes sets %s", rate, DefaultLimit, extract.OverrideKey)
			override = true
		}
		sim := &extract.Simulation{Banner: fmt.Sprintf("My Gadget Repairs simulator at %s (%s)", srv.URL, limits), Close: srv.Close}
		for _, sh := range srv.Shops {
			env := "MGR_" + strings.ToUpper(sh.Name) + "_KEY"
			sim.Accounts = append(sim.Accounts, extract.SimAccount{
				Name: sh.Name, KeyEnv: env, Key: sh.Key, BaseURL: srv.URL, Currency: sh.Currency,
				Line:    fmt.Sprintf("shop %-6s key %s (as %s; %d tickets)", sh.Name, sh.Key, env, sh.Tickets()),
				Options: rateOptions(rate, override),
			})
		}
		return sim, nil
	},
}

// rateOptions are an account's rate keys in the config the simulator
// writes: a map of its own for each account (the webhook keys go in it).
func rateOptions(rate int, override bool) map[string]any {
	opts := map[string]any{"requests_per_minute": rate}
	if override {
		opts[extract.OverrideKey] = true
	}
	return opts
}
