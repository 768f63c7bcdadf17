package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
)

// PlanRow is one account's resource in `repairshop-export plan`.
type PlanRow struct {
	Account  string `json:"account"`
	Resource string `json:"resource"`
	// Stored is the rows the warehouse holds for it.
	Stored int64 `json:"stored"`
	// Size is the records the list is expected to hold: what is stored,
	// or what probes found. SizeMax > Size when probes bound it loosely.
	Size    int64 `json:"size"`
	SizeMax int64 `json:"size_max,omitempty"`
	Known   bool  `json:"known"` // false: never exported and not probed
	// Lists and Details are the requests the next run needs.
	Lists   int64  `json:"list_requests"`
	Details int64  `json:"detail_requests"`
	Note    string `json:"note,omitempty"`
}

// PlanAccount sums an account's plan.
type PlanAccount struct {
	Account  string     `json:"account"`
	Pace     float64    `json:"requests_per_minute"`
	Requests int64      `json:"requests"`
	Probes   int64      `json:"probes_spent"`
	Minutes  float64    `json:"minutes"`
	Silent   *time.Time `json:"silent_until,omitempty"`
	// PerHour is the usable hourly quota of a key metered by the hour.
	PerHour float64 `json:"requests_per_hour,omitempty"`
	// Unknown counts the resources never exported and not probed: each
	// counts one page and no details, so Requests is then a lower bound.
	Unknown    int       `json:"unknown_resources"`
	LowerBound bool      `json:"lower_bound"`
	Rows       []PlanRow `json:"resources"`
}

// Plan estimates, per account and resource, the requests the next run
// needs, from the warehouse (rows held, cursors, the detail queue): it
// spends no requests, unless probe asks to size the lists never exported
// (a few one-record requests each, paced like a run).
func Plan(ctx context.Context, cfg *config.Config, probe bool, opt Options) ([]PlanAccount, error) {
	opt.defaults()
	var w *load.Warehouse
	if _, err := os.Stat(cfg.Warehouse); err == nil {
		if w, err = load.OpenReadOnly(ctx, cfg.Warehouse); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		defer w.Close()
	}
	due := map[[2]string]int64{}
	if w != nil {
		backlog, err := w.DetailBacklog(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range backlog {
			due[[2]string{d.Account, d.Resource}] = d.Due
		}
	}
	state, err := cfg.StateDirectory()
	if err != nil {
		return nil, err
	}
	var plans []PlanAccount
	for _, a := range cfg.Accounts {
		pa, err := planAccount(ctx, cfg, w, a, due, probe, state, opt)
		if err != nil {
			return nil, err
		}
		plans = append(plans, pa)
	}
	return plans, nil
}

func planAccount(ctx context.Context, cfg *config.Config, w *load.Warehouse, a extract.Account, due map[[2]string]int64, probe bool, state string, opt Options) (PlanAccount, error) {
	src, ok := sources.Lookup(a.Source)
	if !ok {
		return PlanAccount{}, config.Usagef("account %q: no source %q", a.Name, a.Source)
	}
	pace := src.Pace(a)
	pa := PlanAccount{Account: a.Name, Pace: pace.PerMinute, PerHour: pace.PerHour}
	var sess extract.Session
	key, kerr := cfg.APIKey(a)
	switch {
	case kerr == nil:
		ledger, err := openLedger(state, src, a, key)
		if err != nil {
			return pa, err
		}
		if st, err := ledger.Read(); err == nil && st.CoolUntil.After(opt.Clock.Now()) {
			pa.Silent = &st.CoolUntil
		}
		if probe {
			if sess, err = src.Open(extract.Env{Account: a, Key: key, Ledger: ledger, Clock: opt.Clock, Log: opt.Log.With("account", a.Name)}); err != nil {
				return pa, err
			}
		}
	case probe:
		return pa, kerr
	}
	st, err := newStored(ctx, w, a.Name)
	if err != nil {
		return pa, err
	}
	for _, r := range src.AccountResources(a) {
		row := PlanRow{Account: a.Name, Resource: r.Name}
		if row.Stored, err = st.rows(ctx, r); err != nil {
			return pa, fmt.Errorf("plan: %w", err)
		}
		cursor := st.Cursor(r.Name)
		row.Size, row.Known = row.Stored, cursor != "" || row.Stored > 0
		if !row.Known && sess != nil {
			lo, hi, err := sess.Probe(ctx, r)
			switch {
			case errors.Is(err, extract.ErrNoProbe):
			case err != nil:
				row.Note = "probe failed: " + err.Error()
			default:
				row.Size, row.Known = lo, true
				if hi > lo {
					row.SizeMax = hi
				}
			}
		}
		size := max(row.Size, row.SizeMax)
		lists, note, known, err := src.PlanList(ctx, a, r, size, st, opt.Clock.Now())
		if err != nil {
			return pa, fmt.Errorf("plan %s %s: %w", a.Name, r.Name, err)
		}
		row.Lists, row.Known = lists, row.Known || known
		if note != "" {
			row.Note = note
		}
		if r.Detail {
			row.Details = due[[2]string{a.Name, r.Name}]
			if cursor == "" {
				row.Details = size // never exported: every record's detail
			}
		}
		if !row.Known && row.Note == "" {
			row.Note = "never exported: size unknown (1 page counted; --probe sizes it)"
		}
		pa.Requests += row.Lists + row.Details
		if !row.Known {
			pa.Unknown++
		}
		pa.Rows = append(pa.Rows, row)
	}
	pa.LowerBound = pa.Unknown > 0
	if sess != nil {
		pa.Probes = sess.Requests()
	}
	pa.Minutes = float64(pa.Requests) / pa.Pace
	return pa, nil
}

// KeyInfo is an account's key ledger as `repairshop-export status` shows it (never
// the key).
type KeyInfo struct {
	Account string `json:"account"`
	Ledger  string `json:"ledger"`
	budget.LedgerState
	Error string `json:"error,omitempty"`
}

// Keys reads the ledgers of the configured accounts; an account whose key
// is not in the environment is reported, not fatal.
func Keys(cfg *config.Config) []KeyInfo {
	dir, err := cfg.StateDirectory()
	var out []KeyInfo
	for _, a := range cfg.Accounts {
		ki := KeyInfo{Account: a.Name}
		key, kerr := cfg.APIKey(a)
		src, known := sources.Lookup(a.Source)
		switch {
		case err != nil:
			ki.Error = err.Error()
		case kerr != nil:
			ki.Error = "key not in the environment (" + a.APIKeyEnv + "): ledger unknown"
		case !known:
			ki.Error = "unknown source " + a.Source
		default:
			l, lerr := openLedger(dir, src, a, key)
			if lerr == nil {
				ki.Ledger = l.Path()
				ki.LedgerState, lerr = l.Read()
			}
			if lerr != nil {
				ki.Error = lerr.Error()
			}
		}
		out = append(out, ki)
	}
	return out
}
