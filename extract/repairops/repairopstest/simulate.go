package repairopstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
)

// Simulator serves the simulator for `repairshop-export simulate`.
var Simulator = extract.Simulator{
	Source: "repairops",
	Flags: []extract.SimFlag{
		{Name: "repairops-addr", Default: "127.0.0.1:0", Usage: "RepairOps listen address"},
		{Name: "repairops-rate", Default: DefaultQuotas["read"], Usage: "RepairOps requests per hour per Read key"},
		{Name: "repairops-tickets", Usage: "RepairOps tickets per organisation (default 1500,400)"},
		{Name: "repairops-webhooks", Default: "", Usage: "post each organisation's webhooks (payments of its closed tickets) to repairshop-export listen at this address (port 0: a free one); the config gets listen: and each account's webhook:"},
	},
	Start: func(f extract.FlagValues, say io.Writer) (*extract.Simulation, error) {
		rate := f.Int("repairops-rate")
		srv, err := Start(WithAddr(f.String("repairops-addr")), WithQuota(rate, time.Hour), WithTickets(f.IntSlice("repairops-tickets")...))
		if err != nil {
			return nil, err
		}
		limits := fmt.Sprintf("%d requests/hour per Read key, the real API's quota; --repairops-rate 1000000 runs it fast", rate)
		override := false
		if rate > DefaultQuotas["read"] {
			limits = fmt.Sprintf("%d requests/hour per key, above the real API's %d; the config it writes sets %s", rate, DefaultQuotas["read"], extract.OverrideKey)
			override = true
		}
		sim := &extract.Simulation{Banner: fmt.Sprintf("RepairOps simulator at %s (%s)", srv.URL, limits), Close: srv.Close}
		for _, o := range srv.Orgs {
			env := "REPAIROPS_" + strings.ToUpper(o.Name) + "_KEY"
			sim.Accounts = append(sim.Accounts, extract.SimAccount{
				Name: o.Name, KeyEnv: env, Key: o.Key, BaseURL: srv.URL, Currency: Currency,
				Line:    fmt.Sprintf("organisation %-6s key %s (as %s; %d shops, %d tickets)", o.Name, o.Key, env, len(o.Shops), o.Tickets()),
				Options: rateOptions(rate, override),
			})
		}
		if addr := f.String("repairops-webhooks"); addr != "" {
			if err := simulateWebhooks(srv, sim, addr, say); err != nil {
				srv.Close()
				return nil, err
			}
		}
		return sim, nil
	},
}

// simulateWebhooks subscribes every organisation to a receiver at addr,
// pays its closed tickets (the books: most in full, some in part, some
// not yet) and delivers the events once the receiver answers on addr. Each
// time the deliveries due are all accepted, it says so on say (make demo
// and the tests wait for that line, not for a time).
func simulateWebhooks(srv *Server, sim *extract.Simulation, addr string, say io.Writer) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--repairops-webhooks %q: want host:port: %w", addr, err)
	}
	if port == "0" { // a free port, for the receiver the config will name
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("--repairops-webhooks: %w", err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	sim.Listen = addr
	for i, o := range srv.Orgs {
		random := make([]byte, 16)
		rand.Read(random)
		secret := "whsec_" + hex.EncodeToString(random)
		path, env := "/hooks/"+o.Name, "REPAIROPS_"+strings.ToUpper(o.Name)+"_WEBHOOK_SECRET"
		srv.Subscribe(o.Name, "http://"+addr+path, secret)
		sim.Accounts[i].Options["webhook"] = map[string]any{"path": path, "secret_env": env}
		sim.Accounts[i].Env = map[string]string{env: secret}
		type due struct {
			id    string
			cents int64
			at    time.Time
		}
		var pays []due
		srv.data.RLock()
		n := 0
		for _, t := range o.tickets {
			if t.status() != "CLOSED" {
				continue
			}
			n++
			switch cents := t.totalCents(); {
			case n%9 == 5: // not paid yet: a receivable
			case n%7 == 4:
				pays = append(pays, due{t.ID, cents / 2, t.closedAt()}) // a deposit
			default:
				pays = append(pays, due{t.ID, cents, t.closedAt().Add(time.Duration(n%5) * time.Hour)})
			}
		}
		srv.data.RUnlock()
		for j, p := range pays {
			if _, err := srv.Pay(o.Name, p.id, p.cents, []string{"card", "cash", "card", "bank_transfer"}[j%4], p.at); err != nil {
				return err
			}
		}
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		delivered := 0
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				ok, _ := srv.Deliver()
				pending := 0
				for _, o := range srv.Orgs {
					pending += srv.Pending(o.Name)
				}
				if delivered += ok; ok > 0 && pending == 0 {
					fmt.Fprintf(say, "%s: %d webhook event(s) delivered to http://%s, none pending\n", srv.URL, delivered, addr)
				}
			}
		}
	}()
	stop := sim.Close
	sim.Close = func() { close(done); stop() }
	sim.Banner += fmt.Sprintf("; webhooks to http://%s/hooks/<organisation>", addr)
	return nil
}

// rateOptions are an account's rate keys in the config the simulator
// writes: a map of its own for each account (the webhook keys go in it).
func rateOptions(rate int, override bool) map[string]any {
	opts := map[string]any{"requests_per_hour": rate}
	if override {
		opts[extract.OverrideKey] = true
	}
	return opts
}
