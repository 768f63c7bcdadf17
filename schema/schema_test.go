package schema

import (
	"strings"
	"testing"
)

func TestMalformedDeclarationPanics(t *testing.T) {
	for name, tb := range map[string]Table{
		"unknown key":           {Source: "s", Name: "t", Key: []string{"nope"}, Columns: []Column{Col(String, "id")}},
		"duplicate column":      {Source: "s", Name: "t", Key: []string{"id"}, Columns: []Column{Col(String, "id"), Col(Int, "id")}},
		"partition not a date":  {Source: "s", Name: "t", Key: []string{"id"}, Columns: []Column{Col(String, "id")}, PartitionBy: "id"},
		"clash with system col": {Source: "s", Name: "t", Key: []string{"id"}, Columns: []Column{Col(String, "id"), Col(String, "run_id")}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(tb)
		}()
	}
}

// invoices is a parent with two child tables, as a source declares one.
var invoices = New(Table{
	Source: "s", Name: "ticket_invoices", Resource: "ticketInvoices", Key: []string{"id"}, PartitionBy: "created_date",
	Columns: []Column{Col(String, "id"), Req(Col(Timestamp, "created_date")), Col(Money, "amount_total")},
	Children: []*Table{
		Nested("ticket_invoice_lines", "ticket_invoice_id", []string{"line_items", "lines"}, "Lines.",
			Col(String, "name"), Col(Decimal, "quantity"), Col(Money, "price")),
		Nested("ticket_invoice_payments", "ticket_invoice_id", []string{"payments"}, "Payments.",
			Col(Money, "amount")),
	},
})

func TestNestedTables(t *testing.T) {
	inv := invoices
	if len(inv.Children) != 2 {
		t.Fatalf("children = %d", len(inv.Children))
	}
	lines := inv.Children[0]
	if lines.FullName() != "s.ticket_invoice_lines" || lines.Parent != inv || !lines.IsChild() || inv.IsChild() {
		t.Fatalf("child %s: parent %v", lines.FullName(), lines.Parent)
	}
	if strings.Join(lines.Key, ",") != "account,ticket_invoice_id,line_no" {
		t.Errorf("child key = %v", lines.Key)
	}
	if lines.PartitionBy != "created_date" {
		t.Errorf("child partition = %q, want the parent's created_date", lines.PartitionBy)
	}
	c := lines.Columns[lines.ColumnIndex("created_date")]
	if c.Parent != "created_date" || c.Type != Timestamp || !c.System {
		t.Errorf("inherited partition column = %+v", c)
	}
	if c := lines.Columns[lines.ColumnIndex("ticket_invoice_id")]; c.Parent != "id" || !c.Required || c.Nullable {
		t.Errorf("parent key column = %+v", c)
	}
	if c := lines.Columns[lines.ColumnIndex("price")]; c.Type != Money || !c.Nullable {
		t.Errorf("price = %+v", c)
	}
	if f := Flatten(inv); len(f) != 3 || f[2] != inv.Children[1] || f[2].FullName() != "s.ticket_invoice_payments" {
		t.Errorf("Flatten = %v", f)
	}
	for name, parent := range map[string]Table{
		"no array path":  {Source: "s", Name: "p", Key: []string{"id"}, Columns: []Column{Col(String, "id")}, Children: []*Table{Nested("c", "p_id", nil, "")}},
		"composite key":  {Source: "s", Name: "p", Key: []string{"id", "n"}, Columns: []Column{Col(String, "id"), Col(Int, "n")}, Children: []*Table{Nested("c", "p_id", []string{"xs"}, "")}},
		"two levels":     {Source: "s", Name: "p", Key: []string{"id"}, Columns: []Column{Col(String, "id")}, Children: []*Table{{Name: "c", ParentKey: "p_id", ArrayPaths: []string{"xs"}, Children: []*Table{Nested("g", "c_id", []string{"ys"}, "")}}}},
		"child declared": {Source: "s", Name: "c", ParentKey: "p_id", Key: []string{"id"}, Columns: []Column{Col(String, "id")}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(parent)
		}()
	}
}
