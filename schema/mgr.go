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

// All lists every declared table in load order.
var All = []*Table{MGRTickets}

// Lookup finds a declared table by its qualified name ("mgr.tickets").
func Lookup(fullName string) *Table {
	for _, t := range All {
		if t.FullName() == fullName {
			return t
		}
	}
	return nil
}
