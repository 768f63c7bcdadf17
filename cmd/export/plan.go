package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
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
	// PerHour is a RepairOps key's usable hourly quota (0 for MGR).
	PerHour float64   `json:"requests_per_hour,omitempty"`
	Rows    []planRow `json:"resources"`
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
			accountFlag,
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
		if a.Source == "repairops" {
			pa, err := planRepairOps(ctx, w, a, due, probe, state, clock, log)
			if err != nil {
				return nil, err
			}
			plans = append(plans, pa)
			continue
		}
		rpm := a.RequestsPerMinute
		if rpm == 0 {
			rpm = mgr.DefaultRequestsPerMinute
		}
		pa := planAccount{Account: a.Name, Pace: float64(rpm) * 0.9}
		var client *mgr.Client
		key, kerr := a.apiKey()
		if kerr == nil {
			ledger, err := planLedger(state, a, key, clock, &pa)
			if err != nil {
				return nil, err
			}
			if probe {
				if client, err = mgrClient(a, key, ledger, clock, log); err != nil {
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
		if p.PerHour > 0 {
			fmt.Fprintf(tw, " (%.0f an hour: %s of the key's hourly quota)", p.PerHour, hours(float64(p.Requests)/p.PerHour))
		}
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

func hours(h float64) string {
	if h <= 1 {
		return "within one hour"
	}
	return fmt.Sprintf("%.1f hours", h)
}

// planLedger opens the key's ledger and notes in pa a rate-limit silence
// still running on it.
func planLedger(state string, a Account, key string, clock budget.Clock, pa *planAccount) (*budget.Ledger, error) {
	ledger, err := budget.OpenLedger(filepath.Join(state, "ledger"), budget.KeyID(a.Source, key))
	if err != nil {
		return nil, err
	}
	if st, err := ledger.Read(); err == nil && st.CoolUntil.After(clock.Now()) {
		pa.Silent = &st.CoolUntil
	}
	return ledger, nil
}

// planRepairOps is makePlan for a RepairOps account: list pages of 500
// (one page for an incremental ticket or customer listing), one request
// per KPI month and shop, one per detail due. --probe asks each list's
// total with a one-record request.
func planRepairOps(ctx context.Context, w *load.Warehouse, a Account, due map[[2]string]int64, probe bool, state string, clock budget.Clock, log *slog.Logger) (planAccount, error) {
	perHour := float64(orDefault(a.RequestsPerHour, repairops.DefaultRequestsPerHour)) * budget.DefaultHeadroom
	pa := planAccount{Account: a.Name, Pace: perHour / 60, PerHour: perHour}
	var client *repairops.Client
	key, kerr := a.apiKey()
	switch {
	case kerr == nil:
		ledger, err := planLedger(state, a, key, clock, &pa)
		if err != nil {
			return pa, err
		}
		if probe {
			if client, err = roClient(a, key, ledger, clock, log); err != nil {
				return pa, err
			}
		}
	case probe:
		return pa, kerr
	}
	cursors := map[string]string{}
	shops := int64(max(len(a.Shops), 1))
	if w != nil {
		var err error
		if cursors, err = w.Cursors(ctx, a.Name, ""); err != nil {
			return pa, err
		}
		if len(a.Shops) == 0 {
			res, err := w.Query(ctx, `SELECT count(DISTINCT shop_id) FROM repairops.tickets WHERE account = ?`, a.Name)
			if err != nil {
				return pa, err
			}
			var n int64
			fmt.Sscan(res.Rows[0][0], &n)
			shops = max(n, 1)
		}
	}
	size := int64(orDefault(a.PageSize, repairops.MaxPageSize))
	pages := func(n int64) int64 { return max((n+size-1)/size, 1) }
	today := clock.Now().UTC().Truncate(day)
	for _, r := range roAccountResources(a) {
		row := planRow{Account: a.Name, Resource: r.res.Name}
		if w != nil {
			q := fmt.Sprintf("SELECT count(*) FROM %s WHERE account = ?", r.table.FullName())
			res, err := w.Query(ctx, q, a.Name)
			if err != nil {
				return pa, fmt.Errorf("plan: count %s: %w", r.table.FullName(), err)
			}
			fmt.Sscan(res.Rows[0][0], &row.Stored)
		}
		cur := parseRoCursor(cursors[r.res.Name])
		row.Size, row.Known = row.Stored, cursors[r.res.Name] != "" || row.Stored > 0
		if !row.Known && client != nil && !r.res.Unpaged {
			total, err := client.Probe(ctx, r.res)
			pa.Probes++
			if err != nil {
				row.Note = "probe failed: " + err.Error()
			} else if total >= 0 {
				row.Size, row.Known = int64(total), true
			}
		}
		switch r.res.Name {
		case repairops.Tickets.Name:
			row.Lists = pages(row.Size)
			if cur.Pass == "complete" && !cur.Watermark.IsZero() {
				row.Lists, row.Note = 1, "incremental: changes since "+cur.Watermark.Format(time.RFC3339)+" less the lookback"
			}
		case repairops.Customers.Name:
			row.Lists = pages(row.Size)
			every := time.Duration(orDefault(a.CustomerFullPassDays, defaultCustomerFullDays)) * day
			if cur.Pass == "complete" && clock.Now().Sub(cur.LastFull) < every {
				row.Lists, row.Note = 1, "new customers only; full pass due "+cur.LastFull.Add(every).Format(time.RFC3339)
			}
		case repairops.KPIs.Name:
			from := today.AddDate(-defaultKPIYears, 0, 0)
			if a.StartDate != "" {
				from, _ = time.Parse(repairops.DateFormat, a.StartDate)
			}
			kc := map[string]string{}
			for k, v := range cursors {
				if strings.HasPrefix(k, "kpis/") {
					kc[k] = v
				}
			}
			if len(kc) > 0 {
				// The stored shops resume from their cursors.
				row.Lists = 0
				for _, v := range kc {
					var c kpiCursor
					json.Unmarshal([]byte(v), &c)
					f := from
					if t, err := time.Parse(repairops.DateFormat, c.Through); err == nil {
						f = t.AddDate(0, 0, -orDefault(a.KPIRereadDays, defaultKPIRereadDays))
					}
					row.Lists += months(f, today)
				}
			} else {
				row.Lists = shops * months(from, today)
			}
			row.Known, row.Note = true, fmt.Sprintf("one request per month and shop (%d shop(s))", max(shops, int64(len(kc))))
		default:
			row.Lists = pages(row.Size)
		}
		if r.res.Detail {
			row.Details = due[[2]string{a.Name, r.res.Name}]
			if cursors[r.res.Name] == "" {
				row.Details = row.Size // never exported: every record's detail
			}
		}
		if !row.Known {
			row.Note = "never exported: size unknown (1 page counted; --probe asks its total)"
		}
		pa.Requests += row.Lists + row.Details
		pa.Rows = append(pa.Rows, row)
	}
	pa.Minutes = float64(pa.Requests) / pa.Pace
	return pa, nil
}

// months counts the month-long windows from..to.
func months(from, to time.Time) int64 {
	var n int64
	for ws := from; !ws.After(to); ws = ws.AddDate(0, 1, 0) {
		n++
	}
	return n
}
