package repairops

import "github.com/repairshop/export/schema"

// RepairOps field names are those of the vendor's API reference. The list and
// the detail of a ticket spell the same facts differently (customer_name on
// the list, customer.name on the detail): the documented list spelling is
// the column's name and first path, the detail's follows, so both views of
// a ticket fill the same row.

// TicketsTable is repairops.tickets, from GET /tickets (summaries) and
// GET /tickets/:id (the detail, which alone carries the timeline, parts,
// labor and diagnostics).
var TicketsTable = schema.New(schema.Table{
	Source:   "repairops",
	Name:     "tickets",
	History:  true,
	Resource: "tickets",
	Doc:      "Repair tickets, from the list (summary) and the detail endpoint.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "number", "ticket_number"),
		schema.Col(schema.String, "status", "status.code", "status.name"),
		schema.Col(schema.String, "shop_id", "shop.id"),
		schema.Col(schema.String, "shop_name", "shop.name"),
		schema.Col(schema.String, "customer_id", "customer.id"),
		schema.Col(schema.String, "customer_name", "customer.name"),
		schema.Col(schema.String, "customer.email", "customer_email"),
		schema.Col(schema.String, "customer.phone", "customer_phone"),
		schema.Col(schema.String, "device_identifier", "device.identifier"),
		schema.Col(schema.String, "device.category", "device_category"),
		schema.Col(schema.String, "device.description", "device_description"),
		schema.Col(schema.String, "issue_description", "issue.description"),
		schema.Col(schema.String, "issue.category", "issue_category"),
		schema.Col(schema.String, "issue.severity", "issue_severity"),
		schema.Col(schema.Money, "total_cost"),
		schema.Col(schema.Money, "labor_cost", "labor.total"),
		schema.Col(schema.Money, "parts_cost"),
		schema.Col(schema.String, "assigned_to", "assigned_to.id", "technician_id"),
		schema.Col(schema.String, "assigned_to_name", "assigned_to.name", "technician_name"),
		schema.Req(schema.Col(schema.Timestamp, "created_at", "createdAt")),
		schema.Col(schema.Timestamp, "updated_at", "updatedAt"),
		schema.Col(schema.Timestamp, "closed_at", "closedAt"),
	},
	PartitionBy: "created_at",
	Children: []*schema.Table{
		schema.Nested("ticket_timeline", "ticket_id", []string{"timeline", "status_history", "events"},
			"Status changes of a ticket, oldest first (detail endpoint only).",
			schema.Col(schema.String, "status", "to_status", "new_status"),
			schema.Col(schema.Timestamp, "timestamp", "at", "created_at"),
			schema.Col(schema.String, "actor", "actor.name", "user"),
			schema.Col(schema.String, "notes", "note", "comment"),
		),
		schema.Nested("ticket_parts", "ticket_id", []string{"parts", "line_items"},
			"Parts used on a ticket (detail endpoint only).",
			schema.Col(schema.String, "id"),
			schema.Col(schema.String, "name", "description"),
			schema.Col(schema.String, "sku", "part_number"),
			schema.Col(schema.String, "inventory_id", "inventory.id"),
			schema.Col(schema.Decimal, "quantity", "qty"),
			schema.Col(schema.Money, "unit_cost", "cost", "price"),
			schema.Col(schema.Money, "total", "total_cost"),
		),
		schema.NestedObject("ticket_labor", "ticket_id", []string{"labor", "labour"},
			"Labor charged on a ticket: the detail's labor object (one line), or its entries when the API sends a list.",
			schema.Col(schema.Decimal, "hours", "labor_hours"),
			schema.Col(schema.Money, "rate", "labor_rate", "hourly_rate"),
			schema.Col(schema.Money, "total", "total_cost"),
			schema.Col(schema.String, "technician", "technician.name", "actor"),
		),
		schema.NestedObject("ticket_diagnostics", "ticket_id", []string{"diagnostics", "diagnosis"},
			"Diagnosis of a ticket: findings, estimate and the parts recommended (detail endpoint only).",
			schema.Col(schema.String, "findings", "notes"),
			schema.Col(schema.Money, "estimated_cost", "estimate"),
			schema.Col(schema.JSON, "recommended_parts"),
		),
	},
})

// CustomersTable is repairops.customers, from GET /customers and GET
// /customers/:id, whose repairs[] is the customer's repair history.
var CustomersTable = schema.New(schema.Table{
	Source:   "repairops",
	Name:     "customers",
	History:  true,
	Resource: "customers",
	Doc:      "Customers of the organisation, with lifetime figures.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "name", "full_name"),
		schema.Col(schema.String, "email"),
		schema.Col(schema.String, "phone", "mobile"),
		schema.Col(schema.String, "address", "full_address"),
		schema.Col(schema.String, "shop_id", "shop.id"),
		schema.Col(schema.Money, "lifetime_spend", "lifetime_value"),
		schema.Col(schema.Int, "total_tickets", "ticket_count"),
		schema.Col(schema.Date, "last_repair_date"),
		schema.Req(schema.Col(schema.Timestamp, "created_at", "createdAt")),
		schema.Col(schema.Timestamp, "updated_at", "updatedAt"),
	},
	PartitionBy: "created_at",
	Children: []*schema.Table{
		schema.Nested("customer_repairs", "customer_id", []string{"repairs", "tickets"},
			"A customer's repair history (customer detail endpoint only).",
			schema.Col(schema.String, "ticket_id", "id"),
			schema.Col(schema.Date, "date", "created_at"),
			schema.Col(schema.String, "device", "device_identifier"),
			schema.Col(schema.String, "status"),
			schema.Col(schema.Money, "cost", "total_cost"),
		),
	},
})

// InventoryTable is repairops.inventory, from GET /inventory: small, so
// listed in full every run.
var InventoryTable = schema.New(schema.Table{
	Source:   "repairops",
	Name:     "inventory",
	History:  true,
	Resource: "inventory",
	Doc:      "Inventory items (parts and accessories) with stock levels and prices.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "sku"),
		schema.Col(schema.String, "name"),
		schema.Col(schema.String, "category"),
		schema.Col(schema.String, "shop_id", "shop.id"),
		schema.Col(schema.Decimal, "quantity_on_hand", "quantity", "stock"),
		schema.Col(schema.Decimal, "quantity_reserved"),
		schema.Col(schema.Decimal, "quantity_available"),
		schema.Col(schema.Money, "cost", "unit_cost"),
		schema.Col(schema.Money, "selling_price", "price"),
		schema.Col(schema.Decimal, "reorder_level"),
		schema.Col(schema.String, "supplier", "supplier.name", "supplier_name"),
		schema.Col(schema.Timestamp, "last_updated", "updated_at"),
	},
})

// KPIDailyTable is repairops.kpi_daily, from GET /kpis: one row per shop
// and day. The rows do not name their shop; shop_id is the shop_id the
// request asked for ("all" when the organisation was asked as a whole).
// The measures are statistics the API computes: they are rounded to the
// column's scale rather than rejected for float noise.
var KPIDailyTable = schema.New(schema.Table{
	Source:   "repairops",
	Name:     "kpi_daily",
	Resource: "kpis",
	Doc:      "Daily KPI snapshots per shop, as computed by RepairOps (late corrections overwrite).",
	Key:      []string{"shop_id", "date"},
	Columns: []schema.Column{
		schema.OrRequest(schema.Col(schema.String, "shop_id"), "the shop the snapshot is for: the record's shop_id, else the shop_id the request asked for (\"all\": the whole organisation)"),
		schema.Req(schema.Col(schema.Date, "date", "day")),
		schema.Rounded(schema.Col(schema.Money, "revenue")),
		schema.Col(schema.Int, "throughput", "tickets_closed"),
		schema.Rounded(schema.Col(schema.Decimal, "avg_turnaround_days", "turnaround")),
		schema.Rounded(schema.Col(schema.Decimal, "qc_pass_rate")),
		schema.Rounded(schema.Col(schema.Decimal, "customer_satisfaction", "csat")),
		schema.Rounded(schema.Col(schema.Decimal, "labor_margin")),
		schema.Rounded(schema.Col(schema.Decimal, "parts_margin")),
	},
	PartitionBy: "date",
})

// Tables lists the RepairOps tables, children after their parent.
var Tables = schema.Flatten(TicketsTable, CustomersTable, InventoryTable, KPIDailyTable, WebhookEventsTable, PaymentsTable)

// WebhookEventsTable is repairops.webhook_events: every webhook event that
// `repairshop-export listen` received and verified, once per event id. The document
// shows only ticket.transitioned's payload; the other events' fields are
// read under their plausible names, and everything else stays in _extra.
var WebhookEventsTable = schema.New(schema.Table{
	Source:   "repairops",
	Name:     "webhook_events",
	Resource: WebhookEvents,
	Doc:      "Webhook events received by repairshop-export listen (verified), one row per event id.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Req(schema.Col(schema.String, "event", "body.event", "body.type")),
		schema.Col(schema.Timestamp, "timestamp", "body.timestamp", "body.created_at"),
		schema.Req(schema.Col(schema.Timestamp, "received_at")),
		schema.Col(schema.String, "ticket_id", "body.data.ticket_id"),
		schema.Col(schema.String, "ticket_number", "body.data.ticket_number"),
		schema.Col(schema.String, "from_status", "body.data.from_status"),
		schema.Col(schema.String, "to_status", "body.data.to_status"),
		schema.Col(schema.String, "payment_id", "body.data.payment_id"),
		schema.Col(schema.String, "customer_id", "body.data.customer_id"),
		schema.Col(schema.String, "inventory_id", "body.data.inventory_id", "body.data.item_id", "body.data.sku"),
		schema.Col(schema.String, "shop_id", "body.data.shop_id"),
		schema.Col(schema.JSON, "data", "body.data"),
	},
	PartitionBy: "received_at",
})

// PaymentsTable is repairops.payments, from payment.processed events: the
// API has no payment endpoint.
var PaymentsTable = schema.New(schema.Table{
	Source:   "repairops",
	Name:     "payments",
	Resource: WebhookPayments,
	Doc:      "Payments, from payment.processed webhook events (no endpoint serves them).",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id", "payment_id"),
		schema.Col(schema.Money, "amount"),
		schema.Col(schema.String, "currency"),
		schema.Col(schema.String, "method", "payment_method"),
		schema.Col(schema.String, "ticket_id"),
		schema.Col(schema.String, "shop_id"),
		schema.Req(schema.Col(schema.Timestamp, "processed_at", "event_timestamp")),
		schema.Col(schema.String, "event_id"),
	},
	PartitionBy: "processed_at",
})
