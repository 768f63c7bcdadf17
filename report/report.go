// Package report renders the owner's KPI report: one self-contained HTML
// file (inline CSS, inline SVG charts, a few lines of inline script to
// pick a shop; nothing fetched, so it opens offline and can be mailed).
// Each chart comes from a shipped KPI query (package queries) over the
// conformed model, for all shops and for each shop, with a table of the
// same numbers beneath it.
//
// It reads through a Querier (the warehouse, or the published Parquet
// files while a run holds the warehouse) and knows nothing of the APIs.
package report

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/repairshop/export/load"
	"github.com/repairshop/export/queries"
)

// Querier runs SQL (with the period and accounts already set as DuckDB
// variables, as `repairshop-export query` sets them).
type Querier interface {
	Query(ctx context.Context, query string, args ...any) (load.Result, error)
}

// Options say what the report covers.
type Options struct {
	From, To  string // local dates as given ("" for open)
	Accounts  []string
	Generated time.Time
	// Source says where the numbers come from (the warehouse, or the
	// Parquet files as published by a run).
	Source string
}

// Report is a rendered report's content.
type Report struct {
	Options  Options
	Scopes   []string // "" (all shops) then each account
	Sections []Section
}

// Section is one chart, drawn for every scope.
type Section struct {
	ID, Title, Query, What string
	Figures                []Figure
}

// Figure is a section's chart and table for one scope.
type Figure struct {
	Scope   string // "" for all shops
	SVG     template.HTML
	Columns []string
	Rows    [][]string
}

// row is a result row by column name.
type row map[string]string

type section struct {
	id, title, query, what string
	draw                   func(rows []row, all bool) (Chart, []string, [][]string)
}

var sections = []section{
	{"revenue", "Revenue by month", "average_ticket_value", "Ticket invoice totals per month of the invoice, in the shop's time zone.", drawRevenue},
	{"turnaround", "Turnaround by month", "turnaround", "Median and 90th-percentile days from opening to closing, per month of closing.", drawTurnaround},
	{"backlog", "Backlog by status group and age", "backlog", "Tickets neither done nor cancelled, by status group and days since they were opened.", drawBacklog},
	{"top-repairs", "Top device and issue combinations", "top_repairs", "The repairs most often booked in the period.", drawTopRepairs},
	{"receivables", "Receivables by age", "receivables_by_age", "Invoices with money still due, by age (RepairOps: for accounts that receive its payment webhooks).", drawReceivables},
	{"low-stock", "Stock at or below its reorder level", "low_stock", "What to reorder: units on hand against the reorder level.", drawLowStock},
	{"technicians", "Technicians' revenue", "revenue_by_technician", "Ticket invoice totals per technician over the period.", drawTechnicians},
}

// Build runs each section's query once and draws it for all shops and for
// each account that has rows.
func Build(ctx context.Context, q Querier, opt Options) (*Report, error) {
	r := &Report{Options: opt}
	accounts := map[string]bool{}
	results := make([][]row, len(sections))
	for i, s := range sections {
		qq, err := queries.Get(s.query)
		if err != nil {
			return nil, err
		}
		res, err := q.Query(ctx, qq.SQL)
		if err != nil {
			return nil, fmt.Errorf("report: %s (query %s): %w", s.title, s.query, err)
		}
		for _, vals := range res.Rows {
			rw := row{}
			for j, c := range res.Columns {
				rw[c] = vals[j]
			}
			results[i] = append(results[i], rw)
			accounts[rw["account"]] = true
		}
	}
	r.Scopes = []string{""}
	for a := range accounts {
		r.Scopes = append(r.Scopes, a)
	}
	slices.Sort(r.Scopes[1:])
	for i, s := range sections {
		sec := Section{ID: s.id, Title: s.title, Query: s.query, What: s.what}
		for _, scope := range r.Scopes {
			var rows []row
			for _, rw := range results[i] {
				if scope == "" || rw["account"] == scope {
					rows = append(rows, rw)
				}
			}
			ch, cols, table := s.draw(rows, scope == "")
			ch.Title = s.title
			if scope != "" {
				ch.Title += " — " + scope
			}
			sec.Figures = append(sec.Figures, Figure{Scope: scope, SVG: template.HTML(ch.SVG()), Columns: cols, Rows: table})
		}
		r.Sections = append(r.Sections, sec)
	}
	return r, nil
}

// value parses a number ("" and unparsable: NaN, not drawn).
func value(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// seriesKey names a row's series: the account, and its shop when the
// account has several (a RepairOps organisation).
func seriesKey(rw row) string {
	if s := rw["shop"]; s != "" && s != rw["account"] {
		return rw["account"] + " · " + s
	}
	return rw["account"]
}

// grid lays rows out as categories × series of one column's value.
func grid(rows []row, category func(row) string, series func(row) string, column string, categories []string) ([]string, []Series) {
	if categories == nil {
		seen := map[string]bool{}
		for _, rw := range rows {
			if c := category(rw); !seen[c] {
				seen[c] = true
				categories = append(categories, c)
			}
		}
		slices.Sort(categories)
	}
	idx := map[string]int{}
	for i, c := range categories {
		idx[c] = i
	}
	var out []Series
	pos := map[string]int{}
	for _, rw := range rows {
		name := series(rw)
		p, ok := pos[name]
		if !ok {
			p = len(out)
			pos[name] = p
			vals := make([]float64, len(categories))
			for i := range vals {
				vals[i] = math.NaN()
			}
			out = append(out, Series{Name: name, Values: vals})
		}
		if i, ok := idx[category(rw)]; ok {
			out[p].Values[i] = value(rw[column])
		}
	}
	slices.SortStableFunc(out, func(a, b Series) int { return strings.Compare(a.Name, b.Name) })
	return categories, out
}

// table picks columns from rows, in order.
func table(rows []row, cols ...string) ([]string, [][]string) {
	out := make([][]string, 0, len(rows))
	for _, rw := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = rw[c]
		}
		out = append(out, vals)
	}
	return cols, out
}

// byMonth sorts rows oldest month first (the queries give newest first).
func byMonth(rows []row) []row {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b row) int { return strings.Compare(a["month"], b["month"]) })
	return out
}

func drawRevenue(rows []row, _ bool) (Chart, []string, [][]string) {
	rows = byMonth(rows)
	cats, series := grid(rows, func(r row) string { return r["month"] }, seriesKey, "revenue", nil)
	cols, t := table(rows, "month", "source", "account", "shop", "invoices", "revenue", "average_value")
	return Chart{Kind: "bars", Categories: cats, Series: series, XLabel: "month (shop's time zone)", YLabel: "revenue (invoice totals, shop currency)"}, cols, t
}

func drawTurnaround(rows []row, _ bool) (Chart, []string, [][]string) {
	rows = byMonth(rows)
	month := func(r row) string { return r["month"] }
	cats, median := grid(rows, month, func(r row) string { return seriesKey(r) + " median" }, "median_days", nil)
	_, p90 := grid(rows, month, func(r row) string { return seriesKey(r) + " p90" }, "p90_days", cats)
	series := append(median, p90...)
	slices.SortStableFunc(series, func(a, b Series) int { return strings.Compare(a.Name, b.Name) })
	cols, t := table(rows, "month", "source", "account", "shop", "tickets_closed", "median_days", "p90_days", "basis")
	return Chart{Kind: "lines", Categories: cats, Series: series, XLabel: "month of closing (shop's time zone)", YLabel: "days from opened to closed"}, cols, t
}

// ageOrder is the backlog's buckets, youngest first.
var ageOrder = []string{"0-2", "3-7", "8-14", "15-30", "over 30"}

func drawBacklog(rows []row, _ bool) (Chart, []string, [][]string) {
	cats, series := grid(rows, func(r row) string { return r["age_days"] }, func(r row) string { return seriesKey(r) + " " + r["status_group"] }, "tickets", ageOrder)
	cols, t := table(rows, "source", "account", "shop", "status_group", "age_days", "tickets")
	return Chart{Kind: "bars", Categories: cats, Series: series, XLabel: "days since the ticket was opened", YLabel: "tickets"}, cols, t
}

// top keeps the first n rows (the queries order them best first).
func top(rows []row, n int) []row { return rows[:min(len(rows), n)] }

// labelled names each row for a horizontal bar chart: its own name, and
// for all shops its account too. It returns the namer and the names in
// the rows' order.
func labelled(rows []row, all bool, name func(row) string) (func(row) string, []string) {
	label := func(r row) string {
		if all {
			return name(r) + " (" + seriesKey(r) + ")"
		}
		return name(r)
	}
	cats := make([]string, len(rows))
	for i, r := range rows {
		cats[i] = label(r)
	}
	return label, cats
}

func drawTopRepairs(rows []row, all bool) (Chart, []string, [][]string) {
	rows = top(rows, 12)
	label, cats := labelled(rows, all, func(r row) string { return r["device"] + " — " + r["issue"] })
	_, series := grid(rows, label, func(row) string { return "tickets" }, "tickets", cats)
	cols, t := table(rows, "source", "account", "device", "issue", "tickets", "value")
	return Chart{Kind: "hbars", Categories: cats, Series: series, XLabel: "tickets opened in the period", YLabel: "device — issue"}, cols, t
}

// receivableOrder is receivables_by_age's buckets.
var receivableOrder = []string{"0-30", "31-60", "61-90", "over 90"}

func drawReceivables(rows []row, _ bool) (Chart, []string, [][]string) {
	cats, series := grid(rows, func(r row) string { return r["age"] }, func(r row) string { return r["account"] }, "due", receivableOrder)
	cols, t := table(rows, "source", "account", "age", "invoices", "due")
	return Chart{Kind: "bars", Categories: cats, Series: series, XLabel: "age of the invoice in days", YLabel: "amount due (shop currency)"}, cols, t
}

func drawLowStock(rows []row, all bool) (Chart, []string, [][]string) {
	rows = top(rows, 15)
	label, cats := labelled(rows, all, func(r row) string { return r["name"] + " " + r["sku"] })
	_, onHand := grid(rows, label, func(row) string { return "on hand" }, "on_hand", cats)
	_, reorder := grid(rows, label, func(row) string { return "reorder level" }, "reorder_level", cats)
	cols, t := table(rows, "source", "account", "shop", "sku", "name", "on_hand", "reorder_level", "cost", "price")
	return Chart{Kind: "hbars", Categories: cats, Series: append(onHand, reorder...), XLabel: "units", YLabel: "item"}, cols, t
}

// drawTechnicians adds up each technician's months (exactly, in decimal)
// and shows the 15 with the most revenue.
func drawTechnicians(rows []row, all bool) (Chart, []string, [][]string) {
	type key struct{ source, account, shop, technician string }
	sums := map[key][2]*big.Rat{}
	var order []key
	for _, r := range rows {
		k := key{r["source"], r["account"], r["shop"], r["technician"]}
		s, ok := sums[k]
		if !ok {
			s = [2]*big.Rat{new(big.Rat), new(big.Rat)}
			sums[k] = s
			order = append(order, k)
		}
		for i, c := range []string{"invoices", "revenue"} {
			if v, ok := new(big.Rat).SetString(r[c]); ok {
				s[i].Add(s[i], v)
			}
		}
	}
	slices.SortStableFunc(order, func(a, b key) int {
		if c := sums[b][1].Cmp(sums[a][1]); c != 0 {
			return c
		}
		return strings.Compare(a.technician, b.technician)
	})
	order = order[:min(len(order), 15)]
	var agg []row
	for _, k := range order {
		s := sums[k]
		agg = append(agg, row{"source": k.source, "account": k.account, "shop": k.shop, "technician": k.technician,
			"invoices": s[0].FloatString(0), "revenue": s[1].FloatString(2)})
	}
	label, cats := labelled(agg, all, func(r row) string { return r["technician"] })
	_, series := grid(agg, label, func(row) string { return "revenue" }, "revenue", cats)
	cols, t := table(agg, "source", "account", "shop", "technician", "invoices", "revenue")
	return Chart{Kind: "hbars", Categories: cats, Series: series, XLabel: "revenue over the period (shop currency)", YLabel: "technician"}, cols, t
}

// HTML writes the report as one self-contained page.
func (r *Report) HTML(w io.Writer) error {
	return page.Execute(w, r)
}

// ScopeName is how a scope is shown.
func ScopeName(s string) string {
	if s == "" {
		return "All shops"
	}
	return s
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{"scope": ScopeName}).Parse(pageHTML))
