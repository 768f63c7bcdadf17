package model

import (
	"fmt"
	"regexp"
	"strings"
)

// A part is a relation that sources fill: each source ships a fragment
// (a SELECT in its own folder, extract/<source>/model/<part>.sql) with the
// part's columns, from its own tables; a conformed view reads the parts it
// needs as part_<name>, the union by name of every source's fragment,
// and adds what is the same for every source (time zones, status groups,
// currencies). A source without a fragment for a part adds no rows to it.
//
// Parts are the conformed model's column lists: their columns and types
// are the contract between the views and the sources.
type Part struct {
	Name    string
	Doc     string
	Columns []Column
}

// Column is one of a part's columns.
type Column struct{ Name, Type string }

// cols reads "name TYPE, name TYPE(p,s), …".
func cols(spec string) []Column {
	var out []Column
	depth, start := 0, 0
	for i := 0; i <= len(spec); i++ {
		switch {
		case i < len(spec) && spec[i] == '(':
			depth++
		case i < len(spec) && spec[i] == ')':
			depth--
		case i == len(spec) || spec[i] == ',' && depth == 0:
			name, typ, _ := strings.Cut(strings.TrimSpace(spec[start:i]), " ")
			out = append(out, Column{name, typ})
			start = i + 1
		}
	}
	return out
}

// Parts are the relations sources fill, by name.
var Parts = []Part{
	{"tickets", "repair tickets as the source holds them now; source_closed_at when the source says when a ticket closed",
		cols("source VARCHAR, account VARCHAR, shop VARCHAR, id VARCHAR, number VARCHAR, customer_id VARCHAR, status VARCHAR, device VARCHAR, issue VARCHAR, technician VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, total DECIMAL(18,2), source_closed_at TIMESTAMPTZ")},
	{"ticket_versions", "each version of a ticket the export has seen (its history table): when it was seen, the source's last update then, its status",
		cols("source VARCHAR, account VARCHAR, id VARCHAR, valid_from TIMESTAMPTZ, last_updated TIMESTAMPTZ, status VARCHAR")},
	{"ticket_timeline", "the source's own status timeline, where it has one: when each status began",
		cols("source VARCHAR, account VARCHAR, id VARCHAR, began_at TIMESTAMPTZ, status VARCHAR")},
	{"status_changes", "each status change and how it is known (basis); seq orders changes at the same instant",
		cols("source VARCHAR, account VARCHAR, ticket_id VARCHAR, seq BIGINT, status VARCHAR, changed_at TIMESTAMPTZ, basis VARCHAR")},
	{"customers", "customers",
		cols("source VARCHAR, account VARCHAR, id VARCHAR, name VARCHAR, email VARCHAR, phone VARCHAR, company VARCHAR, city VARCHAR, created_at TIMESTAMPTZ")},
	{"invoices", "invoices (kind ticket or pos); paid and due NULL where the source does not say",
		cols("source VARCHAR, account VARCHAR, id VARCHAR, kind VARCHAR, number VARCHAR, ticket_id VARCHAR, customer_id VARCHAR, status VARCHAR, created_at TIMESTAMPTZ, subtotal DECIMAL(18,2), tax DECIMAL(18,2), total DECIMAL(18,2), paid DECIMAL(18,2), due DECIMAL(18,2)")},
	{"invoice_lines", "invoice lines; unit_cost what the shop paid for the item, where its catalogue says",
		cols("source VARCHAR, account VARCHAR, invoice_id VARCHAR, kind VARCHAR, line_no BIGINT, name VARCHAR, sku VARCHAR, product_id VARCHAR, quantity DECIMAL(18,4), unit_price DECIMAL(18,2), unit_cost DECIMAL(18,2), total DECIMAL(18,2)")},
	{"payments", "payments against an invoice (invoice_kind says which kind)",
		cols("source VARCHAR, account VARCHAR, invoice_id VARCHAR, invoice_kind VARCHAR, line_no BIGINT, id VARCHAR, amount DECIMAL(18,2), method VARCHAR, paid_at TIMESTAMPTZ")},
	{"purchase_orders", "purchase orders to suppliers",
		cols("source VARCHAR, account VARCHAR, id VARCHAR, number VARCHAR, supplier_id VARCHAR, supplier VARCHAR, status VARCHAR, ordered_at TIMESTAMPTZ, expected_at TIMESTAMPTZ, received_at TIMESTAMPTZ, subtotal DECIMAL(18,2), tax DECIMAL(18,2), shipping DECIMAL(18,2), total DECIMAL(18,2)")},
	{"purchase_order_lines", "purchase order lines",
		cols("source VARCHAR, account VARCHAR, purchase_order_id VARCHAR, line_no BIGINT, product_id VARCHAR, name VARCHAR, sku VARCHAR, quantity_ordered DECIMAL(18,4), quantity_received DECIMAL(18,4), unit_cost DECIMAL(18,2), total DECIMAL(18,2)")},
	{"inventory", "stock: units on hand, reorder level, cost and selling price",
		cols("source VARCHAR, account VARCHAR, shop VARCHAR, id VARCHAR, sku VARCHAR, name VARCHAR, category VARCHAR, on_hand DECIMAL(18,4), reorder_level DECIMAL(18,4), cost DECIMAL(18,2), price DECIMAL(18,2)")},
	{"kpi_daily", "daily KPIs per shop; basis 'source' (the source's own) or 'computed'",
		cols("source VARCHAR, account VARCHAR, shop VARCHAR, date DATE, revenue DECIMAL(18,2), throughput BIGINT, avg_turnaround_days DECIMAL(18,4), qc_pass_rate DECIMAL(18,4), customer_satisfaction DECIMAL(18,4), labor_margin DECIMAL(18,4), parts_margin DECIMAL(18,4), avg_ticket_value DECIMAL(18,2), basis VARCHAR")},
}

// PartNamed returns the named part.
func PartNamed(name string) (Part, bool) {
	for _, p := range Parts {
		if p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}

// PartNames are the parts' names.
func PartNames() []string {
	out := make([]string, len(Parts))
	for i, p := range Parts {
		out[i] = p.Name
	}
	return out
}

// Fragment is one source's SELECT for a part.
type Fragment struct {
	Source, Part string
	Doc          string // its header comment
	SQL          string
}

// partRef finds the parts a view reads.
var partRef = regexp.MustCompile(`\bpart_([a-z_]+)\b`)

// Compose is a view's SQL, or a query's, with the parts it reads: each
// the union by name of the sources' fragments, cast to the part's columns
// (no fragment: no rows, the columns typed all the same). A query that
// needs a part's rows and not a view's work on them reads the part: DuckDB
// computes a view's every join, even for columns the query leaves out.
func Compose(view string, fragments []Fragment) (string, error) {
	var ctes []string
	seen := map[string]bool{}
	for _, m := range partRef.FindAllStringSubmatch(view, -1) {
		name := m[1]
		if seen[name] {
			continue
		}
		seen[name] = true
		p, ok := PartNamed(name)
		if !ok {
			return "", fmt.Errorf("part_%s: no such part", name)
		}
		sel := make([]string, len(p.Columns))
		empty := make([]string, len(p.Columns))
		for i, c := range p.Columns {
			sel[i] = fmt.Sprintf(`CAST("%s" AS %s) AS "%s"`, c.Name, c.Type, c.Name)
			empty[i] = fmt.Sprintf(`CAST(NULL AS %s) AS "%s"`, c.Type, c.Name)
		}
		union := []string{"SELECT " + strings.Join(empty, ", ") + " WHERE false"}
		for _, f := range fragments {
			if f.Part == name {
				union = append(union, "SELECT * FROM (\n"+strings.TrimSpace(f.SQL)+"\n)")
			}
		}
		ctes = append(ctes, fmt.Sprintf("part_%s AS (\nSELECT %s FROM (\n%s\n)\n)", name, strings.Join(sel, ", "), strings.Join(union, "\nUNION ALL BY NAME\n")))
	}
	if len(ctes) == 0 {
		return view, nil
	}
	return "WITH " + strings.Join(ctes, ",\n") + "\nSELECT * FROM (\n" + strings.TrimSpace(view) + "\n)", nil
}
