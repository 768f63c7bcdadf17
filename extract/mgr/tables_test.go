package mgr

import (
	"strings"
	"testing"

	"github.com/repairshop/export/schema"
)

func TestInvoiceChildTables(t *testing.T) {
	inv := TicketInvoicesTable
	if len(inv.Children) != 2 {
		t.Fatalf("children = %d", len(inv.Children))
	}
	lines := inv.Children[0]
	if lines.FullName() != "mgr.ticket_invoice_lines" || lines.Parent != inv || strings.Join(lines.Key, ",") != "account,ticket_invoice_id,line_no" {
		t.Fatalf("child %s: parent %v, key %v", lines.FullName(), lines.Parent, lines.Key)
	}
	if lines.PartitionBy != "created_date" {
		t.Errorf("child partition = %q, want the parent's created_date", lines.PartitionBy)
	}
	if c := lines.Columns[lines.ColumnIndex("price")]; c.Type != schema.Money || !c.Nullable {
		t.Errorf("price = %+v", c)
	}
	if inv.Children[1].FullName() != "mgr.ticket_invoice_payments" {
		t.Errorf("second child = %s", inv.Children[1].FullName())
	}
}
