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

// All lists every declared table, children after their parent: the 17 MGR
// list resources (custom fields of three types share one table), then
// RepairOps's tickets, customers, inventory and KPIs.
var All = append(Flatten(
	MGRTickets, MGRCustomers, MGRTicketInvoices, MGRPOSInvoices, MGRPurchaseOrders,
	MGRProducts, MGRModels, MGRBrands, MGRUsers, MGRSuppliers, MGRPaymentMethods,
	MGRTaxRates, MGRCustomFields, MGRIssueTypes, MGRStatuses,
), RepairOpsTables...)

// Lookup finds a declared table by its qualified name ("mgr.tickets").
func Lookup(fullName string) *Table {
	for _, t := range All {
		if t.FullName() == fullName {
			return t
		}
	}
	return nil
}

// address columns of a flattened postal address object (customers,
// suppliers), with the other spellings users have seen.
func address(prefix string) []Column {
	return []Column{
		Col(String, prefix+".address", prefix+".address1", prefix+".street"),
		Col(String, prefix+".address2", prefix+".address_2"),
		Col(String, prefix+".city", prefix+".town"),
		Col(String, prefix+".state", prefix+".county", prefix+".region"),
		Col(String, prefix+".post_code", prefix+".postcode", prefix+".zip", prefix+".postal_code"),
		Col(String, prefix+".country"),
	}
}

func cols(groups ...[]Column) []Column {
	var out []Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// MGRCustomers is mgr.customers, from GET /customers.
var MGRCustomers = New(Table{
	Source:   "mgr",
	Name:     "customers",
	Resource: "customers",
	Doc:      "Customers of the shop.",
	Key:      []string{"id"},
	Columns: cols([]Column{
		Col(String, "id"),
		Col(String, "ref", "customer_ref", "reference"),
		Col(String, "name", "full_name", "fullname"),
		Col(String, "name_parts.first_name", "first_name", "firstName"),
		Col(String, "name_parts.middle_name", "middle_name"),
		Col(String, "name_parts.last_name", "last_name", "lastName"),
		Col(String, "email"),
		Col(String, "mobile"),
		Col(String, "phone", "telephone"),
		Col(String, "company", "company_name"),
	}, address("fulladdress"), []Column{
		Col(Timestamp, "created_date", "createdDate", "created_at"),
		Col(Timestamp, "last_updated", "lastUpdated", "updated_at"),
	}),
})

// document declares the header columns shared by ticket and POS invoices.
func document(extra ...Column) []Column {
	return cols([]Column{
		Col(String, "id"),
		Col(String, "invoice_number", "number", "invoiceNumber", "ref"),
	}, extra, []Column{
		Col(String, "customer.id", "customer_id"),
		Col(String, "customer.name"),
		Col(String, "status", "status.label"),
		Req(Col(Timestamp, "created_date", "createdDate", "invoice_date", "date")),
		Col(Timestamp, "due_date", "dueDate"),
		Col(Money, "amount_subtotal", "subtotal", "sub_total"),
		Col(Money, "amount_tax", "tax", "tax_total", "total_tax"),
		Col(Money, "amount_discount", "discount"),
		Col(Money, "amount_total", "total", "grand_total"),
		Col(Money, "amount_paid", "paid", "total_paid"),
		Col(Money, "amount_due", "due", "balance", "balance_due"),
		Col(Timestamp, "last_payment_date", "lastPaymentDate"),
		Col(Timestamp, "last_updated", "lastUpdated", "updated_at"),
	})
}

// invoiceLines and invoicePayments declare an invoice's child tables; the
// spellings are those of comparable repair-shop APIs (DESIGN.md §2): MGR's
// own is undocumented.
func invoiceLines(name, parentKey, doc string) *Table {
	return Nested(name, parentKey, []string{"line_items", "lines", "items", "invoice_items"}, doc,
		Col(String, "id"),
		Col(String, "name", "description", "title"),
		Col(String, "product.id", "product_id"),
		Col(String, "code", "sku", "product.code"),
		Col(Decimal, "quantity", "qty"),
		Col(Money, "price", "unit_price", "rate"),
		Col(Money, "discount"),
		Col(Money, "tax", "tax_amount"),
		Col(Money, "total", "line_total", "amount"),
	)
}

func invoicePayments(name, parentKey, doc string) *Table {
	return Nested(name, parentKey, []string{"payments"}, doc,
		Col(String, "id"),
		Col(Money, "amount"),
		Col(String, "method", "payment_method.name", "payment_method", "method.name"),
		Col(Timestamp, "date", "payment_date", "created_date"),
		Col(String, "reference", "ref", "note"),
	)
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
	Columns: document(
		Col(String, "ticket.id", "ticket_id"),
		Col(String, "ticket.ticket_ref", "ticket_ref"),
	),
	PartitionBy: "created_date",
	Children: []*Table{
		invoiceLines("ticket_invoice_lines", "ticket_invoice_id", "Line items of a ticket invoice (detail endpoint only)."),
		invoicePayments("ticket_invoice_payments", "ticket_invoice_id", "Payments taken against a ticket invoice (detail endpoint only)."),
	},
})

// MGRPOSInvoices is mgr.pos_invoices, from GET /posInvoices and its detail:
// counter sales without a ticket.
var MGRPOSInvoices = New(Table{
	Source:   "mgr",
	Name:     "pos_invoices",
	Resource: "posInvoices",
	Doc:      "Point-of-sale invoices (counter sales without a ticket).",
	Key:      []string{"id"},
	Columns: document(
		Col(String, "user.id", "user_id", "cashier.id"),
	),
	PartitionBy: "created_date",
	Children: []*Table{
		invoiceLines("pos_invoice_lines", "pos_invoice_id", "Line items of a POS invoice (detail endpoint only)."),
		invoicePayments("pos_invoice_payments", "pos_invoice_id", "Payments taken against a POS invoice (detail endpoint only)."),
	},
})

// MGRPurchaseOrders is mgr.purchase_orders, from GET /purchaseOrders and its
// detail, which alone carries the lines.
var MGRPurchaseOrders = New(Table{
	Source:   "mgr",
	Name:     "purchase_orders",
	Resource: "purchaseOrders",
	Doc:      "Purchase orders sent to suppliers.",
	Key:      []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "po_number", "number", "reference", "ref", "order_number"),
		Col(String, "supplier.id", "supplier_id"),
		Col(String, "supplier.name", "supplier_name"),
		Col(String, "status", "status.label"),
		Req(Col(Timestamp, "created_date", "createdDate", "order_date", "date")),
		Col(Timestamp, "expected_date", "expected_delivery_date", "due_date"),
		Col(Timestamp, "received_date", "receivedDate"),
		Col(Money, "amount_subtotal", "subtotal", "sub_total"),
		Col(Money, "amount_tax", "tax", "tax_total"),
		Col(Money, "amount_shipping", "shipping", "shipping_cost"),
		Col(Money, "amount_total", "total", "grand_total"),
		Col(Timestamp, "last_updated", "lastUpdated", "updated_at"),
	},
	PartitionBy: "created_date",
	Children: []*Table{
		Nested("purchase_order_lines", "purchase_order_id", []string{"line_items", "lines", "items"},
			"Lines of a purchase order: quantities ordered and received, unit cost (detail endpoint only).",
			Col(String, "id"),
			Col(String, "product.id", "product_id"),
			Col(String, "name", "product.name", "description"),
			Col(String, "code", "sku", "product.code"),
			Col(Decimal, "quantity_ordered", "qty_ordered", "quantity", "ordered"),
			Col(Decimal, "quantity_received", "qty_received", "received"),
			Col(Money, "cost", "unit_cost", "cost_price", "price"),
			Col(Money, "total", "line_total", "amount"),
		),
	},
})

// MGRProducts is mgr.products, from GET /products: stock items, parts and
// services with their prices.
var MGRProducts = New(Table{
	Source:   "mgr",
	Name:     "products",
	Resource: "products",
	Doc:      "Products, parts and services with prices and stock.",
	Key:      []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "type", "product_type"),
		Col(String, "name"),
		Col(String, "code", "sku"),
		Col(Decimal, "stock", "stock_qty", "quantity"),
		// brand and model are plain names in some shops and {id, name} in others.
		Col(String, "brand", "brand.name"),
		Col(String, "model", "model.name"),
		Col(Money, "prices.retail_price", "retail_price", "price"),
		Col(Money, "prices.cost_price", "cost_price", "cost"),
		Col(Money, "prices.wholesale_price", "wholesale_price"),
		Col(Decimal, "prices.vat", "vat", "tax_rate"),
		Col(Decimal, "reorder_level", "min_stock"),
		Col(Timestamp, "created_date", "createdDate", "created_at"),
		Col(Timestamp, "last_updated", "lastUpdated", "updated_at"),
	},
})

// reference declares a small lookup list: id and a name (or label).
// The name column is named as the list most likely spells it: "label" for
// statuses and issue types (tickets carry status.label, issue_type.label),
// "name" elsewhere; either spelling is read.
func reference(name, resource, doc string, label Column, extra ...Column) *Table {
	return New(Table{
		Source: "mgr", Name: name, Resource: resource, Doc: doc, Key: []string{"id"},
		Columns: append([]Column{Col(String, "id"), label}, extra...),
	})
}

var (
	named    = Col(String, "name", "label", "title")
	labelled = Col(String, "label", "name", "title")
)

// MGRModels is mgr.models, from GET /models (device models).
var MGRModels = reference("models", "models", "Device models.", named,
	Col(String, "brand.id", "brand_id"),
	Col(String, "brand.name", "brand_name", "brand"),
)

// MGRBrands is mgr.brands, from GET /brands (device makes).
var MGRBrands = reference("brands", "brands", "Device brands (makes).", named)

// MGRUsers is mgr.users, from GET /users (shop staff).
var MGRUsers = New(Table{
	Source: "mgr", Name: "users", Resource: "users", Doc: "Shop staff (technicians, front desk).", Key: []string{"id"},
	Columns: []Column{
		Col(String, "id"),
		Col(String, "first_name", "firstName", "name_parts.first_name"),
		Col(String, "last_name", "lastName", "name_parts.last_name"),
		Col(String, "email"),
		Col(String, "phone", "mobile"),
		Col(String, "role", "role.name", "user_type"),
		Col(Bool, "active", "is_active", "enabled"),
		Col(Timestamp, "created_date", "createdDate", "created_at"),
	},
})

// MGRSuppliers is mgr.suppliers, from GET /suppliers.
var MGRSuppliers = New(Table{
	Source: "mgr", Name: "suppliers", Resource: "suppliers", Doc: "Suppliers the shop orders parts from.", Key: []string{"id"},
	Columns: cols([]Column{
		Col(String, "id"),
		Col(String, "name", "company", "company_name"),
		Col(String, "contact_name", "contact", "contact_person"),
		Col(String, "email"),
		Col(String, "phone", "telephone", "mobile"),
		Col(String, "website", "url"),
	}, address("fulladdress"), []Column{
		Col(Timestamp, "created_date", "createdDate", "created_at"),
	}),
})

// MGRPaymentMethods is mgr.payment_methods, from GET /paymentMethods.
var MGRPaymentMethods = reference("payment_methods", "paymentMethods", "Payment methods the shop accepts.", named,
	Col(Bool, "active", "is_active", "enabled"),
)

// MGRTaxRates is mgr.tax_rates, from GET /taxRates. Rates are percentages
// with up to four decimals (8.875).
var MGRTaxRates = reference("tax_rates", "taxRates", "Tax rates (percent).", named,
	Col(Decimal, "rate", "percentage", "value", "tax_rate"),
	Col(Bool, "is_default", "default"),
)

// MGRCustomFields is mgr.custom_fields, from GET /customFields/{type} for
// the three types; type is the endpoint's, the record's own "type" (the
// input kind, if sent) is field_type.
var MGRCustomFields = New(Table{
	Source: "mgr", Name: "custom_fields", Resource: "customFields", Doc: "Shop-defined custom fields of tickets, customers and products.",
	Key: []string{"type", "id"},
	Columns: []Column{
		FromRequest(String, "type", "the entity the field belongs to: tickets, customers or products (from /customFields/{type})"),
		Col(String, "id"),
		Col(String, "name", "label", "title"),
		Col(String, "field_type", "input_type", "fieldType", "type"),
		Col(Bool, "required", "is_required", "mandatory"),
		Col(JSON, "options", "values", "choices"),
		Col(Int, "position", "sort_order", "order"),
	},
})

// MGRIssueTypes is mgr.issue_types, from GET /issueTypes.
var MGRIssueTypes = reference("issue_types", "issueTypes", "Issue types a ticket can be filed under.", labelled)

// MGRStatuses is mgr.statuses, from GET /statuses: the shop's own ticket
// status labels (free text, any language).
var MGRStatuses = reference("statuses", "statuses", "Ticket statuses as the shop defined them.", labelled,
	Col(String, "color", "colour"),
	Col(Int, "position", "sort_order", "order"),
	Col(String, "type", "category"),
)
