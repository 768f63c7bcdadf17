// Package report renders the owner's KPI report: one self-contained HTML
// file (inline CSS, inline SVG charts, a few lines of inline script to
// pick a shop; nothing fetched, so it opens offline and can be mailed).
// At the top, headline tiles (the shipped query headline) per shop and for
// all shops, each against the previous period; below, a chart per shipped
// KPI query over the conformed model, for all shops and for each shop,
// with a table of the same numbers beneath it.
//
// Like a BI dashboard, it lays its cards out in a grid that uses the width
// (two columns on a wide screen, one on a phone), keeps one colour per
// shop in every chart, draws each currency on its own axis and each chart
// at a width whose text stays readable (svg.go).
//
// It reads through a Querier (the warehouse, or the published Parquet
// files while a run holds the warehouse) and knows nothing of the APIs.
package report

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
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
	Scopes   []Scope // all shops, then each account
	Sections []Section
}

// Scope is what the page's shop picker picks: all shops ("") or one
// account, with its headline tiles.
type Scope struct {
	Account string
	Tiles   []Tile
	// Compared says what the tiles compare.
	Compared string
}

// Section is one chart, drawn for every scope.
type Section struct {
	ID, Title, Query string
	Figures          []Figure
}

// Figure is a section's chart and table for one scope: one panel per
// currency (or status group), each drawn wide and narrow.
type Figure struct {
	Scope, Title, Caption string
	Empty                 string // what to say when nothing is drawn
	Panels                []Panel
	Columns               []string
	Rows                  [][]string
}

// Panel is one chart of a figure.
type Panel struct {
	Subtitle     string
	Wide, Narrow template.HTML
}

// row is a result row by column name.
type row map[string]string

// Build runs the headline query and each section's query once, and draws
// them for all shops and for each account that has rows.
func Build(ctx context.Context, q Querier, opt Options) (*Report, error) {
	r := &Report{Options: opt}
	accounts := map[string]string{} // account → source
	var keys []string               // every series key (shop), for colours
	run := func(name string) ([]row, error) {
		qq, err := queries.Get(name)
		if err != nil {
			return nil, err
		}
		res, err := q.Query(ctx, qq.SQL)
		if err != nil {
			return nil, fmt.Errorf("report: query %s: %w", name, err)
		}
		var rows []row
		for _, vals := range res.Rows {
			rw := row{}
			for j, c := range res.Columns {
				rw[c] = vals[j]
			}
			if a := rw["account"]; a != "" {
				if rw["source"] != "" {
					accounts[a] = rw["source"]
				} else if _, ok := accounts[a]; !ok {
					accounts[a] = ""
				}
				keys = append(keys, seriesKey(rw))
			}
			rows = append(rows, rw)
		}
		return rows, nil
	}
	headline, err := run("headline")
	if err != nil {
		return nil, err
	}
	results := make([][]row, len(sections))
	for i, s := range sections {
		if results[i], err = run(s.query); err != nil {
			return nil, fmt.Errorf("%s: %w", s.title, err)
		}
	}
	// Colours go to shops in name order, so a shop keeps its colour in
	// every chart (and from one report to the next, while the shops stay).
	slices.Sort(keys)
	keys = slices.Compact(keys)
	d := drawing{colours: map[string]string{}, opt: opt}
	for i, k := range keys {
		d.colours[k] = palette[i%len(palette)]
	}
	r.Scopes = []Scope{{}}
	for _, a := range slices.Sorted(maps.Keys(accounts)) {
		r.Scopes = append(r.Scopes, Scope{Account: a})
	}
	for i := range r.Scopes {
		r.Scopes[i].Tiles, r.Scopes[i].Compared = tiles(headline, r.Scopes[i].Account)
	}
	for i, s := range sections {
		sec := Section{ID: s.id, Title: s.title, Query: s.query}
		for _, scope := range r.Scopes {
			var rows []row
			for _, rw := range results[i] {
				if scope.Account == "" || rw["account"] == scope.Account {
					rows = append(rows, rw)
				}
			}
			d.all, d.scope = scope.Account == "", scope.Account
			panels, cols, table := s.draw(d, rows)
			title := s.title + " — " + ScopeName(scope.Account)
			f := Figure{Scope: scope.Account, Title: title, Caption: s.what(d, accounts[scope.Account]), Empty: s.empty(d), Columns: cols, Rows: table}
			for _, p := range panels {
				p.chart.Title = title
				if p.name != "" {
					p.chart.Title += " (" + p.name + ")"
				}
				if p.chart.marks() == 0 {
					continue
				}
				f.Panels = append(f.Panels, Panel{Subtitle: p.name, Wide: template.HTML(p.chart.SVG(WideWidth)), Narrow: template.HTML(p.chart.SVG(NarrowWidth))})
			}
			sec.Figures = append(sec.Figures, f)
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

// seriesKey names a row's shop: the account, and its shop when the
// account has several (a RepairOps organisation).
func seriesKey(rw row) string {
	if s := rw["shop"]; s != "" && s != rw["account"] {
		return rw["account"] + " · " + s
	}
	return rw["account"]
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

// plural is "1 row", "2 rows".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// svgClass marks a chart variant ("wide", "narrow") for the page's CSS.
func svgClass(class string, svg template.HTML) template.HTML {
	return template.HTML(strings.Replace(string(svg), "<svg ", `<svg class="`+class+`" `, 1))
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{"scope": ScopeName, "plural": plural, "svg": svgClass}).Parse(pageHTML))
