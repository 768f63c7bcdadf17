package schema

// MGR field names are snake_case as observed in live responses (see
// shared/DESIGN.md §2); the vendor documentation names none of them, so
// alternative camelCase spellings are accepted where users have seen them.

// MGRTickets is mgr.tickets, from GET /tickets.
var MGRTickets = New(Table{
	Source:   "mgr",
	Name:     "tickets",
	Resource: "tickets",
	Doc:      "Repair tickets (jobs) of the shop.",
	Key:      []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "ticket_ref", "ticketRef"),
		Col(String, "description", "shortInfo"),
		Req(Col(Timestamp, "created_date", "createdDate")),
		Col(Timestamp, "last_updated", "lastUpdated"),
		Col(String, "status.id"),
		Col(String, "status.label"),
		Col(String, "issue_type.id"),
		Col(String, "issue_type.label"),
		Col(String, "customer.id"),
		Col(String, "customer.name"),
		Col(String, "device.brand"),
		Col(String, "device.model"),
		Col(String, "device.imei"),
		Col(String, "technician.id"),
		Col(String, "technician.first_name"),
		Col(String, "technician.last_name"),
		Col(String, "technician.email"),
		Col(String, "invoice.id"),
		Col(String, "invoice.number"),
		Col(Timestamp, "invoice.last_payment_date"),
	},
	PartitionBy: "created_date",
})

// All lists every declared table, children after their parent.
var All = Flatten(MGRTickets, MGRTicketInvoices)

// Lookup finds a declared table by its qualified name ("mgr.tickets").
func Lookup(fullName string) *Table {
	for _, t := range All {
		if t.FullName() == fullName {
			return t
		}
	}
	return nil
}

// MGRTicketInvoices is mgr.ticket_invoices, from GET /ticketInvoices (the
// list) and GET /ticketInvoices/{id} (the detail, which alone carries the
// line items and payments). Money arrives as numbers or numeric strings.
var MGRTicketInvoices = New(Table{
	Source:   "mgr",
	Name:     "ticket_invoices",
	Resource: "ticketInvoices",
	Doc:      "Invoices raised for repair tickets.",
	Key:      []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "invoice_number", "number", "invoiceNumber"),
		Col(String, "ticket.id", "ticket_id"),
		Col(String, "ticket.ticket_ref"),
		Col(String, "customer.id", "customer_id"),
		Col(String, "customer.name"),
		Col(String, "status", "status.label"),
		Req(Col(Timestamp, "created_date", "createdDate", "invoice_date")),
		Col(Timestamp, "due_date", "dueDate"),
		Col(Money, "amount_subtotal", "subtotal"),
		Col(Money, "amount_tax", "tax", "tax_total"),
		Col(Money, "amount_total", "total"),
		Col(Money, "amount_paid", "paid"),
		Col(Money, "amount_due", "due", "balance"),
		Col(Timestamp, "last_payment_date", "lastPaymentDate"),
	},
	PartitionBy: "created_date",
	Children: []*Table{
		Nested("ticket_invoice_lines", "ticket_invoice_id", []string{"line_items", "lines", "items"},
			"Line items of a ticket invoice (detail endpoint only).",
			Col(String, "id"),
			Col(String, "name", "description"),
			Col(String, "product.id", "product_id"),
			Col(Int, "quantity", "qty"),
			Col(Money, "price", "unit_price"),
			Col(Money, "tax", "tax_amount"),
			Col(Money, "total", "line_total"),
		),
		Nested("ticket_invoice_payments", "ticket_invoice_id", []string{"payments"},
			"Payments taken against a ticket invoice (detail endpoint only).",
			Col(String, "id"),
			Col(Money, "amount"),
			Col(String, "method", "payment_method.name", "payment_method"),
			Col(Timestamp, "date", "payment_date", "created_date"),
		),
	},
})
