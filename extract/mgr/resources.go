package mgr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"time"
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

// Listed is what a run keeps of a record seen on a list page of a
// resource with a detail endpoint: enough to decide whether to fetch it.
type Listed struct {
	ID, Fingerprint string
	Created         time.Time // zero when the record has no readable created date
}

// createdFields are the spellings of a record's creation time.
var createdFields = []string{"created_date", "createdDate", "created_at", "invoice_date", "order_date", "date"}

// Listing summarises the records of a page (a JSON array) for the detail
// queue. Records without an id are left out: they cannot be fetched (the
// transform quarantines them).
func Listing(res Resource, records json.RawMessage) []Listed {
	var items []json.RawMessage
	if json.Unmarshal(records, &items) != nil {
		return nil
	}
	out := make([]Listed, 0, len(items))
	for _, it := range items {
		id, ok := recordID(it)
		if !ok {
			continue
		}
		l := Listed{ID: id, Fingerprint: Fingerprint(res, it)}
		var obj map[string]any
		if json.Unmarshal(it, &obj) == nil {
			for _, f := range createdFields {
				if s, ok := obj[f].(string); ok {
					if t, err := parseTime(s); err == nil {
						l.Created = t
						break
					}
				}
			}
		}
		out = append(out, l)
	}
	return out
}

func parseTime(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339, "2006-01-02 15:04:05", "2006-01-02"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}
