// Package repairops is the RepairOps source: its HTTP client, its wire
// types and envelope, its table declarations, its sync tasks, how its
// archived responses decode, its plan estimate and its config keys;
// repairopstest beside it is its simulator. Source describes it to the
// driver.
//
// RepairOps meters each key by the hour (1,000 read requests for a
// Read-scoped key) and says where the key stands on every response
// (X-RateLimit-Limit/Remaining/Reset). The client reads those headers on
// every answer and stops short of the quota, leaving a reserve for the
// shop's other integrations, so the export never runs the key dry by
// surprise; a 429 is waited out until the reset the API names. How the
// API pages and wraps its answers lives in envelope.go alone.
//
// It yields raw pages and knows nothing of Arrow or DuckDB.
package repairops

import (
	"fmt"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/rest"
)

// Source is RepairOps, as the driver runs it.
var Source = extract.Source{
	Name:  name,
	Title: "RepairOps",
	Short: "RepairOps",
	Limits: "1,000 requests an hour for a Read key, 100 for Write, 10 for Admin (requests_per_hour, default 1,000; " +
		"the X-RateLimit-Limit header wins when lower; 10 % is left for the shop's other integrations); past it, 429 until the hour resets",
	Tables:    Tables,
	Resources: resourceList,
	Options:   func() extract.Options { return &Options{} },
	LedgerID:  func(_ extract.Account, key string) string { return budget.KeyID(name, key) },
	Pace:      pace,
	Open:      open,
	Decode:    decode,
	PlanList:  planList,
	Model:     model,
	Queries:   queries,
	Webhooks:  webhooks,
}

const name = "repairops"

var resourceList = resources()

// resources ties each of All to its table.
func resources() []extract.Resource {
	var out []extract.Resource
	for _, r := range All {
		for _, t := range Tables {
			if !t.IsChild() && t.Resource == r.Name {
				out = append(out, extract.Resource{Name: r.Name, Table: t, Detail: r.Detail})
			}
		}
	}
	return out
}

func pace(a extract.Account) extract.Pace {
	perHour := float64(orDefault(options(a).perHour(), DefaultRequestsPerHour)) * budget.DefaultHeadroom
	return extract.Pace{PerMinute: perHour / 60, PerHour: perHour, Label: fmt.Sprintf("%.0f/h", perHour)}
}

// open is the account's client as its config sets it up: base URL, hourly
// quota, page size, the key's shared ledger and the run's budget.
func open(env extract.Env) (extract.Session, error) {
	a, o := env.Account, options(env.Account)
	opts := []Option{rest.WithClock(env.Clock), rest.WithLogger(env.Log), rest.WithLedger(env.Ledger), rest.WithRunBudget(env.MaxRequests, env.Deadline), rest.WithHook(env.Hook)}
	if a.BaseURL != "" {
		opts = append(opts, rest.WithBaseURL(a.BaseURL))
	}
	if a.Timeout > 0 {
		opts = append(opts, rest.WithRequestTimeout(a.Timeout))
	}
	if n := o.perHour(); n > 0 {
		opts = append(opts, rest.WithRateLimit(n, time.Hour, 0))
	}
	if o.PageSize > 0 {
		opts = append(opts, rest.WithPageSize(o.PageSize))
	}
	c, err := NewClient(env.Key, opts...)
	if err != nil {
		return nil, err
	}
	return &session{c: c, env: env, o: o, res: extract.Chosen(resourceList, a), shops: map[string]bool{}}, nil
}
