package repairops

import (
	"encoding/json"
	"net/url"

	"github.com/repairshop/export/extract/listing"
)

// Resource is one RepairOps list endpoint and whether its records have a
// detail endpoint worth a request each.
type Resource struct {
	Name string // path below the base URL, e.g. "tickets"
	// Params are sent with every page (filters, sort).
	Params url.Values
	// Detail is set when GET /{Name}/:id carries what the list leaves out
	// (a ticket's timeline, parts, labor and diagnostics; a customer's
	// repairs): one request per record, so fetched only for records that
	// are new or whose list fingerprint changed.
	Detail bool
	// Fingerprint names the list fields whose change means the detail has
	// changed too.
	Fingerprint []string
	// Unpaged lists answer in one response and take no limit/offset.
	Unpaged bool
	// Order names the fields (first readable wins) whose time orders the
	// detail queue, newest first.
	Order []string
}

// The resources of the vendor's API reference.
var (
	// Tickets are listed newest change first (sort=-updated_at) so that an
	// incremental run stops paging once past what it already has.
	Tickets = Resource{Name: "tickets", Detail: true,
		Fingerprint: []string{"updated_at", "updatedAt", "status", "total_cost"},
		Order:       []string{"updated_at", "updatedAt", "created_at", "createdAt"}}
	Customers = Resource{Name: "customers", Detail: true,
		Fingerprint: []string{"updated_at", "updatedAt", "lifetime_spend", "total_tickets", "last_repair_date"},
		Order:       []string{"last_repair_date", "updated_at", "created_at", "createdAt"}}
	Inventory = Resource{Name: "inventory"}
	// KPIs are asked by start_date/end_date window and shop, unpaged.
	KPIs = Resource{Name: "kpis", Unpaged: true}
)

// All lists every resource in the order a run spends its budget on them:
// the small inventory first, then the lists that feed the detail queue,
// tickets first (they name the shops KPIs are asked for), then the KPIs.
var All = []Resource{Inventory, Tickets, Customers, KPIs}

// Lookup finds a resource by name.
func Lookup(name string) (Resource, bool) {
	for _, r := range All {
		if r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// DateFormat is the ISO 8601 day of the created_after/created_before and
// start_date/end_date filters.
const DateFormat = "2006-01-02"

// Listed is what a run keeps of a listed record (see listing.Listed).
type Listed = listing.Listed

// Listing summarises the records of a page (a JSON array) for the detail
// queue: id, fingerprint, and the time that orders the queue.
func Listing(res Resource, records json.RawMessage) []Listed {
	return listing.Summarise(records, res.Fingerprint, res.Order)
}
