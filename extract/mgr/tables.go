package mgr

import "github.com/repairshop/export/schema"

// The tables of MGR's resources. Field names are snake_case as observed in
// live responses; the vendor documentation names none of them, so
// alternative camelCase spellings are accepted where users have seen them.

// TicketsTable is mgr.tickets, from GET /tickets.
var TicketsTable = schema.New(schema.Table{
	Source:   "mgr",
	Name:     "tickets",
	History:  true,
	Resource: "tickets",
	Doc:      "Repair tickets (jobs) of the shop.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "ticket_ref", "ticketRef"),
		schema.Col(schema.String, "description", "shortInfo"),
		schema.Req(schema.Col(schema.Timestamp, "created_date", "createdDate")),
		schema.Col(schema.Timestamp, "last_updated", "lastUpdated"),
		schema.Col(schema.String, "status.id"),
		schema.Col(schema.String, "status.label"),
		schema.Col(schema.String, "issue_type.id"),
		schema.Col(schema.String, "issue_type.label"),
		schema.Col(schema.String, "customer.id"),
		schema.Col(schema.String, "customer.name"),
		schema.Col(schema.String, "device.brand"),
		schema.Col(schema.String, "device.model"),
		schema.Col(schema.String, "device.imei"),
		schema.Col(schema.String, "technician.id"),
		schema.Col(schema.String, "technician.first_name"),
		schema.Col(schema.String, "technician.last_name"),
		schema.Col(schema.String, "technician.email"),
		schema.Col(schema.String, "invoice.id"),
		schema.Col(schema.String, "invoice.number"),
		schema.Col(schema.Timestamp, "invoice.last_payment_date"),
	},
	PartitionBy: "created_date",
})

// Tables lists every declared table, children after their parent: the 17
// list resources (custom fields of three types share one table).
var Tables = schema.Flatten(
	TicketsTable, CustomersTable, TicketInvoicesTable, POSInvoicesTable, PurchaseOrdersTable,
	ProductsTable, ModelsTable, BrandsTable, UsersTable, SuppliersTable, PaymentMethodsTable,
	TaxRatesTable, CustomFieldsTable, IssueTypesTable, StatusesTable,
)

// address columns of a flattened postal address object (customers,
// suppliers), with the other spellings users have seen.
func address(prefix string) []schema.Column {
	return []schema.Column{
		schema.Col(schema.String, prefix+".address", prefix+".address1", prefix+".street"),
		schema.Col(schema.String, prefix+".address2", prefix+".address_2"),
		schema.Col(schema.String, prefix+".city", prefix+".town"),
		schema.Col(schema.String, prefix+".state", prefix+".county", prefix+".region"),
		schema.Col(schema.String, prefix+".post_code", prefix+".postcode", prefix+".zip", prefix+".postal_code"),
		schema.Col(schema.String, prefix+".country"),
	}
}

func cols(groups ...[]schema.Column) []schema.Column {
	var out []schema.Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// CustomersTable is mgr.customers, from GET /customers.
var CustomersTable = schema.New(schema.Table{
	Source:   "mgr",
	Name:     "customers",
	History:  true,
	Resource: "customers",
	Doc:      "Customers of the shop.",
	Key:      []string{"id"},
	Columns: cols([]schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "ref", "customer_ref", "reference"),
		schema.Col(schema.String, "name", "full_name", "fullname"),
		schema.Col(schema.String, "name_parts.first_name", "first_name", "firstName"),
		schema.Col(schema.String, "name_parts.middle_name", "middle_name"),
		schema.Col(schema.String, "name_parts.last_name", "last_name", "lastName"),
		schema.Col(schema.String, "email"),
		schema.Col(schema.String, "mobile"),
		schema.Col(schema.String, "phone", "telephone"),
		schema.Col(schema.String, "company", "company_name"),
	}, address("fulladdress"), []schema.Column{
		schema.Col(schema.Timestamp, "created_date", "createdDate", "created_at"),
		schema.Col(schema.Timestamp, "last_updated", "lastUpdated", "updated_at"),
	}),
})

// document declares the header columns shared by ticket and POS invoices.
func document(extra ...schema.Column) []schema.Column {
	return cols([]schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "invoice_number", "number", "invoiceNumber", "ref"),
	}, extra, []schema.Column{
		schema.Col(schema.String, "customer.id", "customer_id"),
		schema.Col(schema.String, "customer.name"),
		schema.Col(schema.String, "status", "status.label"),
		schema.Req(schema.Col(schema.Timestamp, "created_date", "createdDate", "invoice_date", "date")),
		schema.Col(schema.Timestamp, "due_date", "dueDate"),
		schema.Col(schema.Money, "amount_subtotal", "subtotal", "sub_total"),
		schema.Col(schema.Money, "amount_tax", "tax", "tax_total", "total_tax"),
		schema.Col(schema.Money, "amount_discount", "discount"),
		schema.Col(schema.Money, "amount_total", "total", "grand_total"),
		schema.Col(schema.Money, "amount_paid", "paid", "total_paid"),
		schema.Col(schema.Money, "amount_due", "due", "balance", "balance_due"),
		schema.Col(schema.Timestamp, "last_payment_date", "lastPaymentDate"),
		schema.Col(schema.Timestamp, "last_updated", "lastUpdated", "updated_at"),
	})
}

// invoiceLines and invoicePayments declare an invoice's child tables; the
// spellings are those of comparable repair-shop APIs: MGR's
// own is undocumented.
func invoiceLines(name, parentKey, doc string) *schema.Table {
	return schema.Nested(name, parentKey, []string{"line_items", "lines", "items", "invoice_items"}, doc,
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "name", "description", "title"),
		schema.Col(schema.String, "product.id", "product_id"),
		schema.Col(schema.String, "code", "sku", "product.code"),
		schema.Col(schema.Decimal, "quantity", "qty"),
		schema.Col(schema.Money, "price", "unit_price", "rate"),
		schema.Col(schema.Money, "discount"),
		schema.Col(schema.Money, "tax", "tax_amount"),
		schema.Col(schema.Money, "total", "line_total", "amount"),
	)
}

func invoicePayments(name, parentKey, doc string) *schema.Table {
	return schema.Nested(name, parentKey, []string{"payments"}, doc,
		schema.Col(schema.String, "id"),
		schema.Col(schema.Money, "amount"),
		schema.Col(schema.String, "method", "payment_method.name", "payment_method", "method.name"),
		schema.Col(schema.Timestamp, "date", "payment_date", "created_date"),
		schema.Col(schema.String, "reference", "ref", "note"),
	)
}

// TicketInvoicesTable is mgr.ticket_invoices, from GET /ticketInvoices (the
// list) and GET /ticketInvoices/{id} (the detail, which alone carries the
// line items and payments). Money arrives as numbers or numeric strings.
var TicketInvoicesTable = schema.New(schema.Table{
	Source:   "mgr",
	Name:     "ticket_invoices",
	History:  true,
	Resource: "ticketInvoices",
	Doc:      "Invoices raised for repair tickets.",
	Key:      []string{"id"},
	Columns: document(
		schema.Col(schema.String, "ticket.id", "ticket_id"),
		schema.Col(schema.String, "ticket.ticket_ref", "ticket_ref"),
	),
	PartitionBy: "created_date",
	Children: []*schema.Table{
		invoiceLines("ticket_invoice_lines", "ticket_invoice_id", "Line items of a ticket invoice (detail endpoint only)."),
		invoicePayments("ticket_invoice_payments", "ticket_invoice_id", "Payments taken against a ticket invoice (detail endpoint only)."),
	},
})

// POSInvoicesTable is mgr.pos_invoices, from GET /posInvoices and its detail:
// counter sales without a ticket.
var POSInvoicesTable = schema.New(schema.Table{
	Source:   "mgr",
	Name:     "pos_invoices",
	History:  true,
	Resource: "posInvoices",
	Doc:      "Point-of-sale invoices (counter sales without a ticket).",
	Key:      []string{"id"},
	Columns: document(
		schema.Col(schema.String, "user.id", "user_id", "cashier.id"),
	),
	PartitionBy: "created_date",
	Children: []*schema.Table{
		invoiceLines("pos_invoice_lines", "pos_invoice_id", "Line items of a POS invoice (detail endpoint only)."),
		invoicePayments("pos_invoice_payments", "pos_invoice_id", "Payments taken against a POS invoice (detail endpoint only)."),
	},
})

// PurchaseOrdersTable is mgr.purchase_orders, from GET /purchaseOrders and its
// detail, which alone carries the lines.
var PurchaseOrdersTable = schema.New(schema.Table{
	Source:   "mgr",
	Name:     "purchase_orders",
	History:  true,
	Resource: "purchaseOrders",
	Doc:      "Purchase orders sent to suppliers.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "po_number", "number", "reference", "ref", "order_number"),
		schema.Col(schema.String, "supplier.id", "supplier_id"),
		schema.Col(schema.String, "supplier.name", "supplier_name"),
		schema.Col(schema.String, "status", "status.label"),
		schema.Req(schema.Col(schema.Timestamp, "created_date", "createdDate", "order_date", "date")),
		schema.Col(schema.Timestamp, "expected_date", "expected_delivery_date", "due_date"),
		schema.Col(schema.Timestamp, "received_date", "receivedDate"),
		schema.Col(schema.Money, "amount_subtotal", "subtotal", "sub_total"),
		schema.Col(schema.Money, "amount_tax", "tax", "tax_total"),
		schema.Col(schema.Money, "amount_shipping", "shipping", "shipping_cost"),
		schema.Col(schema.Money, "amount_total", "total", "grand_total"),
		schema.Col(schema.Timestamp, "last_updated", "lastUpdated", "updated_at"),
	},
	PartitionBy: "created_date",
	Children: []*schema.Table{
		schema.Nested("purchase_order_lines", "purchase_order_id", []string{"line_items", "lines", "items"},
			"Lines of a purchase order: quantities ordered and received, unit cost (detail endpoint only).",
			schema.Col(schema.String, "id"),
			schema.Col(schema.String, "product.id", "product_id"),
			schema.Col(schema.String, "name", "product.name", "description"),
			schema.Col(schema.String, "code", "sku", "product.code"),
			schema.Col(schema.Decimal, "quantity_ordered", "qty_ordered", "quantity", "ordered"),
			schema.Col(schema.Decimal, "quantity_received", "qty_received", "received"),
			schema.Col(schema.Money, "cost", "unit_cost", "cost_price", "price"),
			schema.Col(schema.Money, "total", "line_total", "amount"),
		),
	},
})

// ProductsTable is mgr.products, from GET /products: stock items, parts and
// services with their prices.
var ProductsTable = schema.New(schema.Table{
	Source:   "mgr",
	Name:     "products",
	History:  true,
	Resource: "products",
	Doc:      "Products, parts and services with prices and stock.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "type", "product_type"),
		schema.Col(schema.String, "name"),
		schema.Col(schema.String, "code", "sku"),
		schema.Col(schema.Decimal, "stock", "stock_qty", "quantity"),
		// brand and model are plain names in some shops and {id, name} in others.
		schema.Col(schema.String, "brand", "brand.name"),
		schema.Col(schema.String, "model", "model.name"),
		schema.Col(schema.Money, "prices.retail_price", "retail_price", "price"),
		schema.Col(schema.Money, "prices.cost_price", "cost_price", "cost"),
		schema.Col(schema.Money, "prices.wholesale_price", "wholesale_price"),
		schema.Col(schema.Decimal, "prices.vat", "vat", "tax_rate"),
		schema.Col(schema.Decimal, "reorder_level", "min_stock"),
		schema.Col(schema.Timestamp, "created_date", "createdDate", "created_at"),
		schema.Col(schema.Timestamp, "last_updated", "lastUpdated", "updated_at"),
	},
})

// reference declares a small lookup list: id and a name (or label).
// The name column is named as the list most likely spells it: "label" for
// statuses and issue types (tickets carry status.label, issue_type.label),
// "name" elsewhere; either spelling is read.
func reference(name, resource, doc string, label schema.Column, extra ...schema.Column) *schema.Table {
	return schema.New(schema.Table{
		Source: "mgr", Name: name, Resource: resource, Doc: doc, Key: []string{"id"},
		Columns: append([]schema.Column{schema.Col(schema.String, "id"), label}, extra...),
	})
}

var (
	named    = schema.Col(schema.String, "name", "label", "title")
	labelled = schema.Col(schema.String, "label", "name", "title")
)

// ModelsTable is mgr.models, from GET /models (device models).
var ModelsTable = reference("models", "models", "Device models.", named,
	schema.Col(schema.String, "brand.id", "brand_id"),
	schema.Col(schema.String, "brand.name", "brand_name", "brand"),
)

// BrandsTable is mgr.brands, from GET /brands (device makes).
var BrandsTable = reference("brands", "brands", "Device brands (makes).", named)

// UsersTable is mgr.users, from GET /users (shop staff).
var UsersTable = schema.New(schema.Table{
	Source: "mgr", Name: "users", Resource: "users", Doc: "Shop staff (technicians, front desk).", Key: []string{"id"},
	Columns: []schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "first_name", "firstName", "name_parts.first_name"),
		schema.Col(schema.String, "last_name", "lastName", "name_parts.last_name"),
		schema.Col(schema.String, "email"),
		schema.Col(schema.String, "phone", "mobile"),
		schema.Col(schema.String, "role", "role.name", "user_type"),
		schema.Col(schema.Bool, "active", "is_active", "enabled"),
		schema.Col(schema.Timestamp, "created_date", "createdDate", "created_at"),
	},
})

// SuppliersTable is mgr.suppliers, from GET /suppliers.
var SuppliersTable = schema.New(schema.Table{
	Source: "mgr", Name: "suppliers", Resource: "suppliers", Doc: "Suppliers the shop orders parts from.", Key: []string{"id"},
	Columns: cols([]schema.Column{
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "name", "company", "company_name"),
		schema.Col(schema.String, "contact_name", "contact", "contact_person"),
		schema.Col(schema.String, "email"),
		schema.Col(schema.String, "phone", "telephone", "mobile"),
		schema.Col(schema.String, "website", "url"),
	}, address("fulladdress"), []schema.Column{
		schema.Col(schema.Timestamp, "created_date", "createdDate", "created_at"),
	}),
})

// PaymentMethodsTable is mgr.payment_methods, from GET /paymentMethods.
var PaymentMethodsTable = reference("payment_methods", "paymentMethods", "Payment methods the shop accepts.", named,
	schema.Col(schema.Bool, "active", "is_active", "enabled"),
)

// TaxRatesTable is mgr.tax_rates, from GET /taxRates. Rates are percentages
// with up to four decimals (8.875).
var TaxRatesTable = reference("tax_rates", "taxRates", "Tax rates (percent).", named,
	schema.Col(schema.Decimal, "rate", "percentage", "value", "tax_rate"),
	schema.Col(schema.Bool, "is_default", "default"),
)

// CustomFieldsTable is mgr.custom_fields, from GET /customFields/{type} for
// the three types; type is the endpoint's, the record's own "type" (the
// input kind, if sent) is field_type.
var CustomFieldsTable = schema.New(schema.Table{
	Source: "mgr", Name: "custom_fields", Resource: "customFields", Doc: "Shop-defined custom fields of tickets, customers and products.",
	Key: []string{"type", "id"},
	Columns: []schema.Column{
		schema.FromRequest(schema.String, "type", "the entity the field belongs to: tickets, customers or products (from /customFields/{type})"),
		schema.Col(schema.String, "id"),
		schema.Col(schema.String, "name", "label", "title"),
		schema.Col(schema.String, "field_type", "input_type", "fieldType", "type"),
		schema.Col(schema.Bool, "required", "is_required", "mandatory"),
		schema.Col(schema.JSON, "options", "values", "choices"),
		schema.Col(schema.Int, "position", "sort_order", "order"),
	},
})

// IssueTypesTable is mgr.issue_types, from GET /issueTypes.
var IssueTypesTable = reference("issue_types", "issueTypes", "Issue types a ticket can be filed under.", labelled)

// StatusesTable is mgr.statuses, from GET /statuses: the shop's own ticket
// status labels (free text, any language).
var StatusesTable = reference("statuses", "statuses", "Ticket statuses as the shop defined them.", labelled,
	schema.Col(schema.String, "color", "colour"),
	schema.Col(schema.Int, "position", "sort_order", "order"),
	schema.Col(schema.String, "type", "category"),
)
