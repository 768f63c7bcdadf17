package report

import (
	"math"
	"math/big"
	"slices"
	"strings"
)

// drawing is what every section draws with: each shop's colour, the
// period, and whether the scope is all shops.
type drawing struct {
	colours map[string]string
	opt     Options
	all     bool
	scope   string // the account, "" for all shops
}

func (d drawing) colour(key string) string {
	if c, ok := d.colours[key]; ok {
		return c
	}
	return palette[0]
}

// period says which dates a period chart covers.
func (d drawing) period() string {
	switch {
	case d.opt.From != "" && d.opt.To != "":
		return "from " + d.opt.From + " to " + d.opt.To
	case d.opt.From != "":
		return "from " + d.opt.From
	case d.opt.To != "":
		return "up to " + d.opt.To
	}
	return "over all dates"
}

// asOf is the day an as-of chart is drawn for.
func (d drawing) asOf() string {
	if d.opt.To != "" {
		return d.opt.To
	}
	return d.opt.Generated.Format("2006-01-02")
}

// panel is one chart of a figure, named by what it splits on.
type panel struct {
	name  string
	chart Chart
}

type section struct {
	id, title, query string
	// what captions the figure for its scope (source: the account's,
	// "" for all shops); empty says what an empty figure means.
	what  func(d drawing, source string) string
	empty func(d drawing) string
	draw  func(d drawing, rows []row) ([]panel, []string, [][]string)
}

// who names a figure's scope in its caption.
func (d drawing) who(what string) string {
	return ScopeName(d.scope) + ": " + what
}

var sections = []section{
	{"revenue", "Revenue by month", "average_ticket_value",
		func(d drawing, _ string) string {
			return d.who("ticket invoice totals per month of the invoice (each shop's time zone), " + d.period() + "; one chart per currency.")
		},
		func(drawing) string { return "No ticket invoices in this period." }, drawRevenue},
	{"turnaround", "Turnaround by month", "turnaround",
		func(d drawing, _ string) string {
			return d.who("median (solid) and 90th-percentile (dashed) days from opening to closing, per month of closing, " + d.period() + ".")
		},
		func(drawing) string { return "No tickets closed in this period." }, drawTurnaround},
	{"backlog", "Backlog by age", "backlog",
		func(d drawing, _ string) string {
			return d.who("tickets neither done nor cancelled on " + d.asOf() + ", by days since they were opened; one chart per status group.")
		},
		func(d drawing) string { return "No open tickets on " + d.asOf() + "." }, drawBacklog},
	{"top-repairs", "Top device and issue combinations", "top_repairs",
		func(d drawing, _ string) string {
			return d.who("the repairs most often booked, " + d.period() + " (the first 12).")
		},
		func(drawing) string { return "No tickets opened in this period." }, drawTopRepairs},
	{"receivables", "Receivables by age", "receivables_by_age",
		func(d drawing, _ string) string {
			return d.who("money still due on " + d.asOf() + ", by the invoice's age in days; one chart per currency. An invoice whose payments are unknown is left out (a source that reports payments only by webhook needs repairshop-export listen).")
		},
		func(d drawing) string { return "Nothing due on " + d.asOf() + "." }, drawReceivables},
	{"low-stock", "Stock at or below its reorder level", "low_stock",
		func(d drawing, _ string) string {
			return d.who("what to reorder now: units on hand (bars) against the reorder level (dark tick), shortest first (the first 15).")
		},
		func(drawing) string { return "Nothing is at or below its reorder level." }, drawLowStock},
	{"technicians", "Technicians' revenue", "revenue_by_technician",
		func(d drawing, _ string) string {
			return d.who("ticket invoice totals per technician, " + d.period() + " (the first 15); one chart per currency.")
		},
		func(drawing) string { return "No invoiced tickets in this period." }, drawTechnicians},
}

// split groups rows into panels by a column, in the given order (nil:
// sorted); an empty value is named by blank.
func split(rows []row, column string, order []string, blank string) ([]string, map[string][]row) {
	by := map[string][]row{}
	var keys []string
	for _, rw := range rows {
		k := rw[column]
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], rw)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	named := map[string][]row{}
	for i, k := range keys {
		if k == "" {
			keys[i] = blank
		}
		named[keys[i]] = by[k]
	}
	return keys, named
}

// currencyName is a currency's panel name.
const noCurrency = "currency not set"

func moneyLabel(what, currency string) string {
	if currency == noCurrency {
		return what + " (currency not set)"
	}
	return what + " (" + currency + ")"
}

// grid lays rows out as categories × one series per shop, of one column.
func (d drawing) grid(rows []row, category func(row) string, column string, categories []string) ([]string, []Series, []Key) {
	if categories == nil {
		for _, rw := range rows {
			if c := category(rw); !slices.Contains(categories, c) {
				categories = append(categories, c)
			}
		}
		slices.Sort(categories)
	}
	var out []Series
	for _, rw := range rows {
		name := seriesKey(rw)
		p := slices.IndexFunc(out, func(s Series) bool { return s.Name == name })
		if p < 0 {
			vals := make([]float64, len(categories))
			for i := range vals {
				vals[i] = math.NaN()
			}
			out = append(out, Series{Name: name, Values: vals, Colour: d.colour(name)})
			p = len(out) - 1
		}
		if i := slices.Index(categories, category(rw)); i >= 0 {
			out[p].Values[i] = value(rw[column])
		}
	}
	slices.SortStableFunc(out, func(a, b Series) int { return strings.Compare(a.Name, b.Name) })
	var keys []Key
	for _, s := range out {
		keys = append(keys, Key{Name: s.Name, Colour: s.Colour, Style: "box"})
	}
	return categories, out, keys
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

func month(r row) string { return r["month"] }

func drawRevenue(d drawing, rows []row) ([]panel, []string, [][]string) {
	rows = byMonth(rows)
	names, by := split(rows, "currency", nil, noCurrency)
	var out []panel
	for _, n := range names {
		cats, series, keys := d.grid(by[n], month, "revenue", nil)
		out = append(out, panel{n, Chart{Kind: "bars", Categories: cats, Series: series, Legend: keys, XLabel: "month (shop's time zone)", YLabel: moneyLabel("revenue", n)}})
	}
	cols, t := table(rows, "month", "source", "account", "shop", "currency", "invoices", "revenue", "average_value")
	return out, cols, t
}

func drawTurnaround(d drawing, rows []row) ([]panel, []string, [][]string) {
	rows = byMonth(rows)
	cats, median, _ := d.grid(rows, month, "median_days", nil)
	_, p90, _ := d.grid(rows, month, "p90_days", cats)
	var series []Series
	var keys []Key
	for i := range median {
		m, p := median[i], p90[i]
		m.Name, p.Name, p.Dashed = m.Name+" median", p.Name+" p90", true
		series = append(series, m, p)
		keys = append(keys, Key{Name: m.Name, Colour: m.Colour, Style: "line"}, Key{Name: p.Name, Colour: p.Colour, Style: "dash"})
	}
	cols, t := table(rows, "month", "source", "account", "shop", "tickets_closed", "median_days", "p90_days", "basis")
	return []panel{{"", Chart{Kind: "lines", Categories: cats, Series: series, Legend: keys, XLabel: "month of closing (shop's time zone)", YLabel: "days from opened to closed"}}}, cols, t
}

// ageOrder is the backlog's buckets, youngest first.
var ageOrder = []string{"0-2", "3-7", "8-14", "15-30", "over 30"}

func drawBacklog(d drawing, rows []row) ([]panel, []string, [][]string) {
	names, by := split(rows, "status_group", []string{"open", "waiting"}, "no group")
	var out []panel
	for _, n := range names {
		cats, series, keys := d.grid(by[n], func(r row) string { return r["age_days"] }, "tickets", ageOrder)
		out = append(out, panel{n, Chart{Kind: "bars", Categories: cats, Series: series, Legend: keys, XLabel: "days since the ticket was opened", YLabel: "tickets " + n}})
	}
	cols, t := table(rows, "source", "account", "shop", "status_group", "age_days", "tickets")
	return out, cols, t
}

// top keeps the first n rows (the queries order them best first).
func top(rows []row, n int) []row { return rows[:min(len(rows), n)] }

// hbar lays rows out one category each (keyed by shop and name, shown by
// name), bars of one column coloured by shop; the legend names the shops.
func (d drawing) hbar(rows []row, name func(row) string, column, series string) ([]string, []string, Series, []Key) {
	s := Series{Name: series}
	var cats, labels []string
	var keys []Key
	for _, r := range rows {
		shop := seriesKey(r)
		cats = append(cats, shop+"\x00"+name(r))
		labels = append(labels, name(r))
		s.Values = append(s.Values, value(r[column]))
		s.Colours = append(s.Colours, d.colour(shop))
		if !slices.ContainsFunc(keys, func(k Key) bool { return k.Name == shop }) {
			keys = append(keys, Key{Name: shop, Colour: d.colour(shop), Style: "box"})
		}
	}
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
	return cats, labels, s, keys
}

func drawTopRepairs(d drawing, rows []row) ([]panel, []string, [][]string) {
	rows = top(rows, 12)
	cats, labels, s, keys := d.hbar(rows, func(r row) string { return r["device"] + " — " + r["issue"] }, "tickets", "tickets")
	cols, t := table(rows, "source", "account", "device", "issue", "tickets", "value")
	return []panel{{"", Chart{Kind: "hbars", Categories: cats, Labels: labels, Series: []Series{s}, Legend: keys, XLabel: "tickets opened in the period", YLabel: "device — issue"}}}, cols, t
}

// receivableOrder is receivables_by_age's buckets.
var receivableOrder = []string{"0-30", "31-60", "61-90", "over 90"}

func drawReceivables(d drawing, rows []row) ([]panel, []string, [][]string) {
	names, by := split(rows, "currency", nil, noCurrency)
	var out []panel
	for _, n := range names {
		cats, series, keys := d.grid(by[n], func(r row) string { return r["age"] }, "due", receivableOrder)
		out = append(out, panel{n, Chart{Kind: "bars", Categories: cats, Series: series, Legend: keys, XLabel: "age of the invoice in days", YLabel: moneyLabel("amount due", n)}})
	}
	cols, t := table(rows, "source", "account", "currency", "age", "invoices", "due")
	return out, cols, t
}

func drawLowStock(d drawing, rows []row) ([]panel, []string, [][]string) {
	rows = top(rows, 15)
	cats, labels, onHand, keys := d.hbar(rows, func(r row) string { return r["name"] + " " + r["sku"] }, "on_hand", "on hand")
	level := Series{Name: "reorder level", Colour: levelColour, Tick: true}
	for _, r := range rows {
		level.Values = append(level.Values, value(r["reorder_level"]))
	}
	keys = append(keys, Key{Name: "reorder level", Colour: levelColour, Style: "tick"})
	cols, t := table(rows, "source", "account", "shop", "sku", "name", "on_hand", "reorder_level", "cost", "price")
	return []panel{{"", Chart{Kind: "hbars", Categories: cats, Labels: labels, Series: []Series{onHand, level}, Legend: keys, XLabel: "units", YLabel: "item"}}}, cols, t
}

// drawTechnicians adds up each technician's months (exactly, in decimal)
// and shows the 15 with the most revenue, per currency.
func drawTechnicians(d drawing, rows []row) ([]panel, []string, [][]string) {
	type key struct{ source, account, shop, technician, currency string }
	sums := map[key][2]*big.Rat{}
	var order []key
	for _, r := range rows {
		k := key{r["source"], r["account"], r["shop"], r["technician"], r["currency"]}
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
		agg = append(agg, row{"source": k.source, "account": k.account, "shop": k.shop, "technician": k.technician, "currency": k.currency,
			"invoices": s[0].FloatString(0), "revenue": s[1].FloatString(2)})
	}
	names, by := split(agg, "currency", nil, noCurrency)
	var out []panel
	for _, n := range names {
		cats, labels, s, keys := d.hbar(by[n], func(r row) string { return r["technician"] }, "revenue", "revenue")
		out = append(out, panel{n, Chart{Kind: "hbars", Categories: cats, Labels: labels, Series: []Series{s}, Legend: keys, XLabel: moneyLabel("revenue over the period", n), YLabel: "technician"}})
	}
	cols, t := table(agg, "source", "account", "shop", "technician", "currency", "invoices", "revenue")
	return out, cols, t
}
