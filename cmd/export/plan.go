package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/load"
)

// planRow is one account's resource in `export plan`.
type planRow struct {
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

// planAccount sums an account's plan.
type planAccount struct {
	Account  string     `json:"account"`
	Pace     float64    `json:"requests_per_minute"`
	Requests int64      `json:"requests"`
	Probes   int64      `json:"probes_spent"`
	Minutes  float64    `json:"minutes"`
	Silent   *time.Time `json:"silent_until,omitempty"`
	Rows     []planRow  `json:"resources"`
}

// listRequests is the list requests for n records: pages overlap by
// mgr.Overlap records and a short page ends a listing.
func listRequests(n int64) int64 {
	pages := int64(1)
	for off := int64(0); n-off >= mgr.PageSize; off += mgr.PageSize - mgr.Overlap {
		pages++
	}
	return pages
}

func planCommand(out io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "print, per account and resource, the requests the next run needs and the time at the key's rate",
		Description: "Estimates come from the warehouse (rows held, unfinished listings, the detail queue) and spend no requests.\n" +
			"Resources never exported are unknown; --probe sizes them with a few one-record requests each (paced like a run).",
		Flags: []cli.Flag{
			configFlag,
			&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
			&cli.BoolFlag{Name: "probe", Usage: "size resources never exported with a few one-record requests"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		Action: func(c *cli.Context) error {
			cfg, err := configFrom(c)
			if err != nil {
				return err
			}
			plans, err := makePlan(c.Context, cfg, c.Bool("probe"), budget.Real{}, logger(c, os.Stderr))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(plans)
			}
			printPlan(out, plans)
			return nil
		},
	}
}

func makePlan(ctx context.Context, cfg *Config, probe bool, clock budget.Clock, log *slog.Logger) ([]planAccount, error) {
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
	state, err := cfg.stateDir()
	if err != nil {
		return nil, err
	}
	var plans []planAccount
	for _, a := range cfg.Accounts {
		rpm := a.RequestsPerMinute
		if rpm == 0 {
			rpm = mgr.DefaultRequestsPerMinute
		}
		pa := planAccount{Account: a.Name, Pace: float64(rpm) * 0.9}
		var client *mgr.Client
		key, kerr := a.apiKey()
		if kerr == nil {
			ledger, err := budget.OpenLedger(filepath.Join(state, "ledger"), budget.KeyID(a.Source, key))
			if err != nil {
				return nil, err
			}
			if st, err := ledger.Read(); err == nil && st.CoolUntil.After(clock.Now()) {
				pa.Silent = &st.CoolUntil
			}
			if probe {
				opts := []mgr.Option{mgr.WithClock(clock), mgr.WithLogger(log), mgr.WithLedger(ledger), mgr.WithRateLimit(rpm, time.Minute, 0)}
				if a.BaseURL != "" {
					opts = append(opts, mgr.WithBaseURL(a.BaseURL))
				}
				if client, err = mgr.NewClient(key, opts...); err != nil {
					return nil, err
				}
			}
		} else if probe {
			return nil, kerr
		}
		for _, r := range accountResources(a) {
			row := planRow{Account: a.Name, Resource: r.res.Name}
			cursor := ""
			if w != nil {
				if row.Stored, err = storedRows(ctx, w, a.Name, r); err != nil {
					return nil, err
				}
				if cursor, _, err = w.Cursor(ctx, a.Name, r.res.Name); err != nil {
					return nil, err
				}
			}
			row.Size, row.Known = row.Stored, cursor != "" || row.Stored > 0
			if !row.Known && client != nil {
				lo, hi, n, err := sizeList(ctx, client, r.res)
				pa.Probes += n
				if err != nil {
					row.Note = "probe failed: " + err.Error()
				} else {
					row.Size, row.Known = lo, true
					if hi > lo {
						row.SizeMax = hi
					}
				}
			}
			size := max(row.Size, row.SizeMax)
			row.Lists = listRequests(size)
			if off := resumeOffset(cursor); off > 0 {
				// An unfinished listing resumes there, then the next starts over.
				row.Note = fmt.Sprintf("listing resumes at offset %d", off)
			}
			if r.res.Detail {
				row.Details = due[[2]string{a.Name, r.res.Name}]
				if cursor == "" {
					row.Details = size // never exported: every document's detail
				}
			}
			if !row.Known {
				row.Note = "never exported: size unknown (1 page counted; --probe sizes it)"
			}
			pa.Requests += row.Lists + row.Details
			pa.Rows = append(pa.Rows, row)
		}
		pa.Minutes = float64(pa.Requests) / pa.Pace
		plans = append(plans, pa)
	}
	return plans, nil
}

// storedRows counts an account's rows of a resource's table.
func storedRows(ctx context.Context, w *load.Warehouse, account string, r mgrRes) (int64, error) {
	q := fmt.Sprintf("SELECT count(*) FROM %s.%s WHERE account = ?", load.Quote(r.table.Source), load.Quote(r.table.Name))
	args := []any{account}
	for col, v := range r.fixed {
		q += fmt.Sprintf(" AND %s = ?", load.Quote(col))
		args = append(args, v)
	}
	res, err := w.Query(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("plan: count %s: %w", r.table.FullName(), err)
	}
	var n int64
	fmt.Sscan(res.Rows[0][0], &n)
	return n, nil
}

// maxProbes bounds the probes of one list: offsets double from 50 up to
// 50·2^(maxProbes-1) (25,600 with 10), then halve the last gap once.
const maxProbes = 10

// sizeList bounds a list's length with one-record probes: lo ≤ n < hi
// (hi = lo when exact is not needed: a short first page gives n).
func sizeList(ctx context.Context, c *mgr.Client, res mgr.Resource) (lo, hi, probes int64, err error) {
	lo, hi = 0, -1
	for off := int64(mgr.PageSize); probes < maxProbes; off *= 2 {
		probes++
		more, err := c.Probe(ctx, res, int(off))
		if err != nil {
			return 0, 0, probes, err
		}
		if !more {
			hi = off
			break
		}
		lo = off + 1
	}
	if hi < 0 {
		return lo, lo, probes, nil // at least lo: beyond what probes reach
	}
	if lo > 0 && hi-lo > mgr.PageSize {
		mid := (lo + hi) / 2
		probes++
		more, err := c.Probe(ctx, res, int(mid))
		if err != nil {
			return 0, 0, probes, err
		}
		if more {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, hi, probes, nil
}

func printPlan(out io.Writer, plans []planAccount) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, p := range plans {
		fmt.Fprintf(tw, "account %s: %d request(s) ≈ %s at %.0f requests/min", p.Account, p.Requests, (time.Duration(p.Minutes * float64(time.Minute))).Round(time.Second), p.Pace)
		if p.Probes > 0 {
			fmt.Fprintf(tw, " (%d probe request(s) spent)", p.Probes)
		}
		fmt.Fprintln(tw)
		if p.Silent != nil {
			fmt.Fprintf(tw, "  the key is silent until %s after a rate-limit signal\n", ts(p.Silent))
		}
		fmt.Fprintln(tw, "  resource\tstored\tlist req\tdetail req\tnote")
		for _, r := range p.Rows {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", r.Resource, r.Stored, r.Lists, r.Details, r.Note)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
