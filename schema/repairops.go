package schema

// RepairOps field names are those of shared/api/repairops.md. The list and
// the detail of a ticket spell the same facts differently (customer_name on
// the list, customer.name on the detail): the documented list spelling is
// the column's name and first path, the detail's follows, so both views of
// a ticket fill the same row.

// RepairOpsTickets is repairops.tickets, from GET /tickets (summaries) and
// GET /tickets/:id (the detail, which alone carries the timeline, parts,
// labor and diagnostics).
var RepairOpsTickets = New(Table{
	Source:   "repairops",
	Name:     "tickets",
	Resource: "tickets",
	Doc:      "Repair tickets, from the list (summary) and the detail endpoint.",
	Key:      []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "number", "ticket_number"),
		Col(String, "status", "status.code", "status.name"),
		Col(String, "shop_id", "shop.id"),
		Col(String, "shop_name", "shop.name"),
		Col(String, "customer_id", "customer.id"),
		Col(String, "customer_name", "customer.name"),
		Col(String, "customer.email", "customer_email"),
		Col(String, "customer.phone", "customer_phone"),
		Col(String, "device_identifier", "device.identifier"),
		Col(String, "device.category", "device_category"),
		Col(String, "device.description", "device_description"),
		Col(String, "issue_description", "issue.description"),
		Col(String, "issue.category", "issue_category"),
		Col(String, "issue.severity", "issue_severity"),
		Col(Money, "total_cost"),
		Col(Money, "labor_cost", "labor.total"),
		Col(Money, "parts_cost"),
		Col(String, "assigned_to", "assigned_to.id", "technician_id"),
		Col(String, "assigned_to_name", "assigned_to.name", "technician_name"),
		Req(Col(Timestamp, "created_at", "createdAt")),
		Col(Timestamp, "updated_at", "updatedAt"),
		Col(Timestamp, "closed_at", "closedAt"),
	},
	PartitionBy: "created_at",
	Children: []*Table{
		Nested("ticket_timeline", "ticket_id", []string{"timeline", "status_history", "events"},
			"Status changes of a ticket, oldest first (detail endpoint only).",
			Col(String, "status", "to_status", "new_status"),
			Col(Timestamp, "timestamp", "at", "created_at"),
			Col(String, "actor", "actor.name", "user"),
			Col(String, "notes", "note", "comment"),
		),
		Nested("ticket_parts", "ticket_id", []string{"parts", "line_items"},
			"Parts used on a ticket (detail endpoint only).",
			Col(String, "id"),
			Col(String, "name", "description"),
			Col(String, "sku", "part_number"),
			Col(String, "inventory_id", "inventory.id"),
			Col(Decimal, "quantity", "qty"),
			Col(Money, "unit_cost", "cost", "price"),
			Col(Money, "total", "total_cost"),
		),
		NestedObject("ticket_labor", "ticket_id", []string{"labor", "labour"},
			"Labor charged on a ticket: the detail's labor object (one line), or its entries when the API sends a list.",
			Col(Decimal, "hours", "labor_hours"),
			Col(Money, "rate", "labor_rate", "hourly_rate"),
			Col(Money, "total", "total_cost"),
			Col(String, "technician", "technician.name", "actor"),
		),
		NestedObject("ticket_diagnostics", "ticket_id", []string{"diagnostics", "diagnosis"},
			"Diagnosis of a ticket: findings, estimate and the parts recommended (detail endpoint only).",
			Col(String, "findings", "notes"),
			Col(Money, "estimated_cost", "estimate"),
			Col(JSON, "recommended_parts"),
		),
	},
})

// RepairOpsCustomers is repairops.customers, from GET /customers and GET
// /customers/:id, whose repairs[] is the customer's repair history.
var RepairOpsCustomers = New(Table{
	Source:   "repairops",
	Name:     "customers",
	Resource: "customers",
	Doc:      "Customers of the organisation, with lifetime figures.",
	Key:      []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "name", "full_name"),
		Col(String, "email"),
		Col(String, "phone", "mobile"),
		Col(String, "address", "full_address"),
		Col(String, "shop_id", "shop.id"),
		Col(Money, "lifetime_spend", "lifetime_value"),
		Col(Int, "total_tickets", "ticket_count"),
		Col(Date, "last_repair_date"),
		Req(Col(Timestamp, "created_at", "createdAt")),
		Col(Timestamp, "updated_at", "updatedAt"),
	},
	PartitionBy: "created_at",
	Children: []*Table{
		Nested("customer_repairs", "customer_id", []string{"repairs", "tickets"},
			"A customer's repair history (customer detail endpoint only).",
			Col(String, "ticket_id", "id"),
			Col(Date, "date", "created_at"),
			Col(String, "device", "device_identifier"),
			Col(String, "status"),
			Col(Money, "cost", "total_cost"),
		),
	},
})

// RepairOpsInventory is repairops.inventory, from GET /inventory: small, so
// listed in full every run.
var RepairOpsInventory = New(Table{
	Source:   "repairops",
	Name:     "inventory",
	Resource: "inventory",
	Doc:      "Inventory items (parts and accessories) with stock levels and prices.",
	Key:      []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "sku"),
		Col(String, "name"),
		Col(String, "category"),
		Col(String, "shop_id", "shop.id"),
		Col(Decimal, "quantity_on_hand", "quantity", "stock"),
		Col(Decimal, "quantity_reserved"),
		Col(Decimal, "quantity_available"),
		Col(Money, "cost", "unit_cost"),
		Col(Money, "selling_price", "price"),
		Col(Decimal, "reorder_level"),
		Col(String, "supplier", "supplier.name", "supplier_name"),
		Col(Timestamp, "last_updated", "updated_at"),
	},
})

// RepairOpsKPIDaily is repairops.kpi_daily, from GET /kpis: one row per shop
// and day. The rows do not name their shop; shop_id is the shop_id the
// request asked for ("all" when the organisation was asked as a whole).
// The measures are statistics the API computes: they are rounded to the
// column's scale rather than rejected for float noise.
var RepairOpsKPIDaily = New(Table{
	Source:   "repairops",
	Name:     "kpi_daily",
	Resource: "kpis",
	Doc:      "Daily KPI snapshots per shop, as computed by RepairOps (late corrections overwrite).",
	Key:      []string{"shop_id", "date"},
	Columns: []Column{
		OrRequest(Col(String, "shop_id"), "the shop the snapshot is for: the record's shop_id, else the shop_id the request asked for (\"all\": the whole organisation)"),
		Req(Col(Date, "date", "day")),
		Rounded(Col(Money, "revenue")),
		Col(Int, "throughput", "tickets_closed"),
		Rounded(Col(Decimal, "avg_turnaround_days", "turnaround")),
		Rounded(Col(Decimal, "qc_pass_rate")),
		Rounded(Col(Decimal, "customer_satisfaction", "csat")),
		Rounded(Col(Decimal, "labor_margin")),
		Rounded(Col(Decimal, "parts_margin")),
	},
	PartitionBy: "date",
})

// RepairOpsTables lists the RepairOps tables, children after their parent.
var RepairOpsTables = Flatten(RepairOpsTickets, RepairOpsCustomers, RepairOpsInventory, RepairOpsKPIDaily)
