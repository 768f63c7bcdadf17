package mgr

import (
	"encoding/json"
	"net/url"

	"github.com/repairshop/export/extract/listing"
)

// Resource is one MGR list endpoint, how it pages and whether its records
// have a detail endpoint worth a request each.
type Resource struct {
	Name string // path below the base URL, e.g. "tickets", "customFields/tickets"
	// Params are sent with every page (filters, sort).
	Params url.Values
	// Reference lists are short lookups (statuses, tax rates): listed in
	// full every run, first, because every other table refers to them.
	Reference bool
	// Dated lists take the createdDateFrom/createdDateTo filters.
	Dated bool
	// Detail is set when GET /{Name}/{id} carries what the list leaves out
	// (line items, payments, PO lines): one request per record, so it is
	// fetched only for records that are new or whose list fingerprint
	// changed (see Fingerprint).
	Detail bool
	// Fingerprint names the list fields whose change means the detail has
	// changed too: totals, status, payments, update time. Every spelling
	// users have seen is listed; those absent are skipped.
	Fingerprint []string
	// Spellings are other paths the vendor's page gives the list and the
	// detail endpoint, tried in order after Name on a 404.
	ListSpellings, DetailSpellings []string
}

// ListPaths are the paths the list may answer under, Name first.
func (r Resource) ListPaths() []string { return append([]string{r.Name}, r.ListSpellings...) }

// DetailPaths are the paths below which the detail may answer, Name first.
func (r Resource) DetailPaths() []string { return append([]string{r.Name}, r.DetailSpellings...) }

// The resources of the vendor's API page. Lists accept limit (≤ 50) and
// offset; `page` is broken in the live API (page=2 returns []), so it is
// never sent.
var (
	Tickets   = Resource{Name: "tickets", Dated: true}
	Customers = Resource{Name: "customers", Dated: true}
	// TicketInvoices: the vendor page spells the list both /ticketInvoices
	// (the heading, and the detail path /ticketInvoices/{id}) and
	// /ticketsInvoices (the example URL), and the detail's example URL is
	// /ticketinvoices/{id}. We ask /ticketInvoices first: it is the
	// spelling of the headings, and the one the API Explorer — which the
	// docs call the source of truth — lists; a 404 there is asked again in
	// the example's spelling (see Client.spelt).
	TicketInvoices = Resource{Name: "ticketInvoices", Dated: true, Detail: true, Fingerprint: documentFingerprint,
		ListSpellings: []string{"ticketsInvoices"}, DetailSpellings: []string{"ticketinvoices"}}
	POSInvoices    = Resource{Name: "posInvoices", Dated: true, Detail: true, Fingerprint: documentFingerprint}
	PurchaseOrders = Resource{Name: "purchaseOrders", Dated: true, Detail: true, Fingerprint: []string{
		"status", "status.label", "amount_total", "total", "grand_total", "received_date", "receivedDate",
		"last_updated", "lastUpdated", "updated_at", "modified_date",
	}}
	Products       = Resource{Name: "products"}
	Models         = Resource{Name: "models", Reference: true}
	Brands         = Resource{Name: "brands", Reference: true}
	Users          = Resource{Name: "users", Reference: true}
	Suppliers      = Resource{Name: "suppliers", Reference: true}
	PaymentMethods = Resource{Name: "paymentMethods", Reference: true}
	TaxRates       = Resource{Name: "taxRates", Reference: true}
	IssueTypes     = Resource{Name: "issueTypes", Reference: true}
	Statuses       = Resource{Name: "statuses", Reference: true}
)

// DateFormat is the dd-mmm-yyyy format of the createdDateFrom and
// createdDateTo filters (e.g. 01-Jan-2026).
const DateFormat = "02-Jan-2006"

// CustomFields is GET /customFields/{type} for type tickets, customers or products.
func CustomFields(typ string) Resource {
	return Resource{Name: "customFields/" + typ, Reference: true}
}

var documentFingerprint = []string{
	"status", "status.label", "amount_total", "total", "grand_total", "amount_paid", "paid", "amount_due", "due", "balance",
	"last_payment_date", "lastPaymentDate", "last_updated", "lastUpdated", "updated_at", "modified_date",
}

// All lists every resource in the order a run spends its budget on them:
// reference lists first (cheap, and everything refers to them), then the
// business lists, the ones whose details need requests last so their
// queue is known before details are fetched.
var All = []Resource{
	Statuses, IssueTypes, PaymentMethods, TaxRates,
	CustomFields("tickets"), CustomFields("customers"), CustomFields("products"),
	Brands, Models, Users, Suppliers,
	Products, Customers, Tickets, TicketInvoices, POSInvoices, PurchaseOrders,
}

// Lookup finds a resource by name.
func Lookup(name string) (Resource, bool) {
	for _, r := range All {
		if r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// Fingerprint summarises the list fields of a record that reveal a change
// of its detail (see listing.Fingerprint).
func Fingerprint(res Resource, rec json.RawMessage) string {
	return listing.Fingerprint(res.Fingerprint, rec)
}

// Listed is what a run keeps of a listed record (see listing.Listed).
type Listed = listing.Listed

// createdFields are the spellings of a record's creation time.
var createdFields = []string{"created_date", "createdDate", "created_at", "invoice_date", "order_date", "date"}

// Listing summarises the records of a page (a JSON array) for the detail
// queue. Records without an id are left out: they cannot be fetched (the
// transform quarantines them).
func Listing(res Resource, records json.RawMessage) []Listed {
	return listing.Summarise(records, res.Fingerprint, createdFields)
}
