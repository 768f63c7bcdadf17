package mgr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
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
}

// The resources of shared/api/mgr.md. Lists accept limit (≤ 50) and
// offset; `page` is broken in the live API (page=2 returns []), so it is
// never sent.
var (
	Tickets   = Resource{Name: "tickets", Dated: true}
	Customers = Resource{Name: "customers", Dated: true}
	// TicketInvoices: the vendor page spells the list both /ticketInvoices
	// (the heading, and the detail path /ticketInvoices/{id}) and
	// /ticketsInvoices (the example URL). We use /ticketInvoices: it is the
	// spelling of the heading and of the detail endpoint, and the one the
	// API Explorer — which the docs call the source of truth — lists.
	TicketInvoices = Resource{Name: "ticketInvoices", Dated: true, Detail: true, Fingerprint: documentFingerprint}
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
// of its detail. Two fetches of an unchanged record give the same value.
// A record carrying none of the resource's fingerprint fields is
// fingerprinted whole, so that a change is never missed for lack of
// knowing the spelling.
func Fingerprint(res Resource, rec json.RawMessage) string {
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(string(rec)))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		sum := sha256.Sum256(rec)
		return hex.EncodeToString(sum[:12])
	}
	picked := map[string]any{}
	for _, f := range res.Fingerprint {
		if v, ok := lookupPath(obj, f); ok {
			picked[f] = v
		}
	}
	if len(picked) == 0 {
		picked = obj
	}
	b, _ := json.Marshal(picked) // maps marshal with sorted keys: stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func lookupPath(obj map[string]any, path string) (any, bool) {
	var cur any = obj
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}
