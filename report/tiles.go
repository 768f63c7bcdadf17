package report

import (
	"fmt"
	"strings"
	"time"
)

// Tile is one headline number (a row of the headline query) with its
// change against the previous period.
type Tile struct {
	Metric, Currency string
	Label            string // "Revenue this month"
	Value            string // the current figure, formatted
	Change           string // "▲ 26 (+48.1 %)", "" when there is nothing to compare
	Against          string // "against 54"
	// Trend is "good", "bad" or "flat" (revenue up is good; backlog,
	// turnaround and receivables up are bad), "" for no comparison.
	Trend string
	// The query's own values, as text, for the page's data attributes.
	Current, Previous, Delta, DeltaPct string
}

// tileLabels name the headline query's metrics; upIsGood says which way
// is good news.
var tileLabels = map[string]struct {
	label, unit string
	upIsGood    bool
}{
	"revenue":                {"Revenue this month", "money", true},
	"open_backlog":           {"Open backlog", "tickets", false},
	"median_turnaround_days": {"Median turnaround", "days", false},
	"receivables_due":        {"Receivables due", "money", false},
}

// tiles makes a scope's tiles from the headline query's rows, in the
// query's order, and says what they compare.
func tiles(rows []row, account string) ([]Tile, string) {
	var out []Tile
	compared := ""
	for _, r := range rows {
		if r["account"] != account {
			continue
		}
		m, ok := tileLabels[r["metric"]]
		if !ok {
			continue
		}
		t := Tile{Metric: r["metric"], Currency: r["currency"], Label: m.label,
			Current: r["current"], Previous: r["previous"], Delta: r["change"], DeltaPct: r["change_pct"]}
		t.Value = figure(r["current"], m.unit, r["currency"])
		if m.unit == "money" && t.Currency == "" {
			t.Label += " (currency not set)"
		}
		if r["previous"] != "" && r["change"] != "" {
			delta := value(r["change"])
			arrow, sign := "▲", "+"
			switch {
			case delta < 0:
				arrow, sign = "▼", "−"
			case delta == 0:
				arrow, sign = "=", ""
			}
			t.Change = arrow + " " + sign + figure(strings.TrimPrefix(r["change"], "-"), m.unit, "")
			if r["change_pct"] != "" {
				t.Change += " (" + sign + strings.TrimPrefix(r["change_pct"], "-") + " %)"
			}
			t.Against = "against " + figure(r["previous"], m.unit, r["currency"])
			switch {
			case delta == 0:
				t.Trend = "flat"
			case (delta > 0) == m.upIsGood:
				t.Trend = "good"
			default:
				t.Trend = "bad"
			}
		} else if m.unit == "days" && r["current"] == "" {
			t.Value = "–"
			t.Against = "no tickets closed yet this month"
		}
		out = append(out, t)
		if compared == "" {
			compared = comparedText(r["as_of"], r["previous_as_of"])
		}
	}
	return out, compared
}

// comparedText says what the tiles compare: month to date against the
// same days of the month before; the backlog and receivables on the day.
func comparedText(asOf, previous string) string {
	a, err1 := time.Parse("2006-01-02", asOf)
	p, err2 := time.Parse("2006-01-02", previous)
	if err1 != nil || err2 != nil {
		return ""
	}
	span := func(d time.Time) string {
		if d.Day() == 1 {
			return d.Format("2 Jan 2006")
		}
		return fmt.Sprintf("1–%s", d.Format("2 Jan 2006"))
	}
	return fmt.Sprintf("Revenue and turnaround: %s against %s. Backlog and receivables: on %s against %s. Days in each shop's time zone.",
		span(a), span(p), a.Format("2 Jan 2006"), p.Format("2 Jan 2006"))
}

// figure formats a query value for a tile: money with thousands
// separators and its currency, counts whole, days with one decimal.
func figure(v, unit, currency string) string {
	if v == "" {
		return "–"
	}
	switch unit {
	case "tickets":
		return thousands(strings.TrimSuffix(v, ".00"))
	case "days":
		return fmt.Sprintf("%.1f days", value(v))
	}
	s := thousands(v)
	if currency != "" {
		s += " " + currency
	}
	return s
}

// thousands puts commas in a decimal's whole part: 31592.45 → 31,592.45.
func thousands(v string) string {
	sign := ""
	if strings.HasPrefix(v, "-") {
		sign, v = "−", v[1:]
	}
	whole, frac, hasFrac := strings.Cut(v, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}
