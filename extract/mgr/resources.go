package mgr

import "net/url"

// Resource is one MGR list endpoint and how it pages.
type Resource struct {
	Name string // path below the base URL, e.g. "tickets"
	// Params are sent with every page (filters, sort).
	Params url.Values
}

// Tickets is GET /tickets. The list accepts limit (≤ 50) and offset; `page`
// is broken in the live API (page=2 returns []), so it is never sent.
var Tickets = Resource{Name: "tickets"}
