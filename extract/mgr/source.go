// Package mgr is the My Gadget Repairs source: its HTTP client, its wire
// types and envelope, its table declarations, its sync tasks, how its
// archived responses decode, its plan estimate and its config keys; mgrtest
// beside it is its simulator. Source describes it to the driver.
//
// MGR allows 30 requests a minute per key and blocks the key and the shop's
// IP for six hours after ten ignored rate-limit errors, which would take the
// shop's own integrations down with our export: the client paces below the
// limit and treats every sign of throttling as a reason for a minute of
// silence and the end of the account's run.
//
// It yields raw pages and knows nothing of Arrow or DuckDB.
package mgr

import (
	"fmt"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/rest"
)

// Source is My Gadget Repairs, as the driver runs it.
var Source = extract.Source{
	Name:  name,
	Title: "My Gadget Repairs",
	Short: "MGR",
	Limits: "30 requests a minute (requests_per_minute, default 30; paced at 27); ignore its rate-limit error 10 times " +
		"and it blocks the key and the shop's IP for 6 hours",
	Tables:    Tables,
	Resources: resourceList,
	Options:   func() extract.Options { return &Options{} },
	Settings:  func() extract.Options { return &Settings{} },
	LedgerID:  ledgerID,
	Pace:      pace,
	Open:      open,
	Decode:    decode,
	PlanList:  planList,
	Model:     model,
	Queries:   queries,
}

const name = "mgr"

var resourceList = resources()

// resources ties each of All to its table: customFields/{type} all load
// mgr.custom_fields, with the type as a column.
func resources() []extract.Resource {
	var out []extract.Resource
	for _, r := range All {
		base, typ, _ := strings.Cut(r.Name, "/")
		for _, t := range Tables {
			if t.IsChild() || t.Resource != base {
				continue
			}
			er := extract.Resource{Name: r.Name, Table: t, Detail: r.Detail}
			if typ != "" {
				er.Fixed = map[string]string{"type": typ}
			}
			out = append(out, er)
		}
	}
	return out
}

// hostLedger names the one ledger every MGR key of a host paces through
// under mgr_rate_scope: host.
const hostLedger = "mgr-host"

func ledgerID(a extract.Account, key string) string {
	if settings(a).RateScope == ScopeHost {
		return hostLedger
	}
	return budget.KeyID(name, key)
}

func perMinute(a extract.Account) int {
	if n := options(a).perMinute(); n > 0 {
		return n
	}
	return DefaultRequestsPerMinute
}

func pace(a extract.Account) extract.Pace {
	p := float64(perMinute(a)) * budget.DefaultHeadroom
	return extract.Pace{PerMinute: p, Label: fmt.Sprintf("%.0f/min", p)}
}

// open is the account's client as its config sets it up: base URL, rate,
// the key's shared ledger and the run's budget.
func open(env extract.Env) (extract.Session, error) {
	a := env.Account
	opts := []Option{rest.WithClock(env.Clock), rest.WithLogger(env.Log), rest.WithLedger(env.Ledger), rest.WithRunBudget(env.MaxRequests, env.Deadline), rest.WithHook(env.Hook)}
	if a.BaseURL != "" {
		opts = append(opts, rest.WithBaseURL(a.BaseURL))
	}
	if a.Timeout > 0 {
		opts = append(opts, rest.WithRequestTimeout(a.Timeout))
	}
	if n := options(a).perMinute(); n > 0 {
		opts = append(opts, rest.WithRateLimit(n, time.Minute, 0))
	}
	c, err := NewClient(env.Key, opts...)
	if err != nil {
		return nil, err
	}
	return &session{c: c, env: env, res: extract.Chosen(resourceList, a)}, nil
}
