package mgrtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Shop is one simulated MGR account: its name, its API key and its data.
type Shop struct {
	Name string
	Key  string
	// Zone is the shop's UTC offset; MGR renders its timestamps in it
	// ("2026-07-16T10:00:00-0600").
	Zone *time.Location
	// Currency is the ISO 4217 code of the shop's money (its invoices
	// are in it).
	Currency string

	tickets []ticket // in the server's loose "newest first" order
	byID    map[string]int

	// colls holds every list resource by its path ("tickets",
	// "customFields/products"): the records in server order, with their
	// list and detail shapes.
	colls map[string]*collection
	// expect is what a correct export of the shop holds (see Expected).
	expect  map[string]*Expect
	tallies map[string]*tally
}

// Tickets is the number of tickets the shop holds.
func (s *Shop) Tickets() int { return len(s.tickets) }

// TicketIDs returns every ticket id, for tests that check completeness.
func (s *Shop) TicketIDs() []string {
	ids := make([]string, len(s.tickets))
	for i, t := range s.tickets {
		ids[i] = fmt.Sprint(t.ID)
	}
	return ids
}

// dataEnd is the newest moment in the seeded history. Fixed, so the data is
// the same on every machine and every day.
var dataEnd = time.Date(2026, 11, 15, 18, 0, 0, 0, time.UTC)

// mgrTime is how MGR renders instants: ISO 8601 with a numeric offset and no colon.
const mgrTime = "2006-01-02T15:04:05-0700"

type label struct {
	ID    int    `json:"id"`
	Label string `json:"label"`
}

type person struct {
	ID        int    `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

type device struct {
	Brand string `json:"brand"`
	Model string `json:"model"`
	IMEI  string `json:"imei,omitempty"`
}

type customerRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ticket is the wire shape of GET /tickets as reported from live use, with a
// few fields the docs never mention (custom_fields, source, _links).
type ticket struct {
	ID           int64             `json:"id"`
	TicketRef    string            `json:"ticket_ref"`
	Description  string            `json:"description"`
	CreatedDate  string            `json:"created_date"`
	LastUpdated  string            `json:"last_updated"`
	Status       label             `json:"status"`
	IssueType    label             `json:"issue_type"`
	Customer     customerRef       `json:"customer"`
	Device       device            `json:"device"`
	Technician   *person           `json:"technician"`
	Invoice      json.RawMessage   `json:"invoice"`
	CustomFields map[string]string `json:"custom_fields,omitempty"`
	Source       string            `json:"source,omitempty"`

	created time.Time
	raw     []byte
}

type shopSpec struct {
	name     string
	offset   int // seconds east of UTC
	statuses []string
	techs    []person
}

var specs = []shopSpec{
	{
		name: "north", offset: -6 * 3600,
		statuses: []string{"New", "Diagnosing", "Waiting for Parts", "In Progress", "Ready for Collection", "Completed", "Cancelled"},
		techs: []person{
			{ID: 11, FirstName: "Dana", LastName: "Whitfield", Email: "dana@north-fix.example"},
			{ID: 12, FirstName: "Marcus", LastName: "Ohlsson", Email: "marcus@north-fix.example"},
			{ID: 13, FirstName: "Priya", LastName: "Raman", Email: "priya@north-fix.example"},
		},
	},
	{
		name: "south", offset: 1 * 3600,
		statuses: []string{"Nuevo", "En diagnóstico", "Esperando repuestos", "En reparación", "Listo para entregar", "Entregado", "Cancelado"},
		techs: []person{
			{ID: 21, FirstName: "Lucía", LastName: "Fernández", Email: "lucia@taller-sur.example"},
			{ID: 22, FirstName: "Jörg", LastName: "Brandt", Email: "jorg@taller-sur.example"},
		},
	},
}

var devices = []device{
	{Brand: "Apple", Model: "iPhone 13"}, {Brand: "Apple", Model: "iPhone 14 Pro"}, {Brand: "Apple", Model: "iPhone 15"},
	{Brand: "Apple", Model: "iPad Air (5th gen)"}, {Brand: "Apple", Model: "MacBook Air M2"},
	{Brand: "Samsung", Model: "Galaxy S23"}, {Brand: "Samsung", Model: "Galaxy A54"}, {Brand: "Samsung", Model: "Galaxy Tab S8"},
	{Brand: "Google", Model: "Pixel 7"}, {Brand: "Google", Model: "Pixel 8 Pro"},
	{Brand: "OnePlus", Model: "11"}, {Brand: "Motorola", Model: "Moto G84"},
	{Brand: "Nintendo", Model: "Switch OLED"}, {Brand: "Lenovo", Model: "ThinkPad T14"},
}

var issues = []string{"Cracked screen", "Battery replacement", "Charging port", "Water damage", "Back glass", "Camera fault", "No power", "Software / data recovery", "Speaker / microphone", "Keyboard"}

var firstNames = []string{"Alex", "Sam", "Jordan", "Taylor", "Chris", "Morgan", "Jamie", "Robin", "Ana", "Luis", "Sofía", "Mateo", "Olga", "Kenji", "Aisha", "Noah"}
var lastNames = []string{"Smith", "García", "Müller", "Nguyen", "O'Brien", "Kowalski", "Silva", "Johnson", "Rossi", "Haddad", "Kim", "Dubois"}

// newShops seeds the shops deterministically: the same seed gives the same
// keys, tickets and order on every run.
// Shops past the two specs take their spec in turn, named with a number
// (north2, south2, north3, …): many shops for a scaling bench.
func newShops(seed uint64, ticketsPerShop []int) []*Shop {
	shops := make([]*Shop, 0, max(len(specs), len(ticketsPerShop)))
	for i := range max(len(specs), len(ticketsPerShop)) {
		sp := specs[i%len(specs)]
		if i >= len(specs) {
			sp.name = fmt.Sprintf("%s%d", sp.name, i/len(specs)+1)
		}
		n := 1800 - 200*(i%len(specs))
		if i < len(ticketsPerShop) && ticketsPerShop[i] > 0 {
			n = ticketsPerShop[i]
		}
		r := rand.New(rand.NewPCG(seed, uint64(i+1)))
		shop := &Shop{
			Name: sp.name,
			Key:  fmt.Sprintf("mgr_%s_%016x", sp.name, r.Uint64()),
			Zone: time.FixedZone(sp.name, sp.offset),
		}
		shop.tickets = seedTickets(r, sp, shop.Zone, n, int64(100000*(i+1)))
		shop.byID = make(map[string]int, n)
		for j, t := range shop.tickets {
			shop.byID[fmt.Sprint(t.ID)] = j
		}
		seedRest(rand.New(rand.NewPCG(seed, uint64(100+i))), shop, sp, i)
		shops = append(shops, shop)
	}
	return shops
}

func seedTickets(r *rand.Rand, sp shopSpec, zone *time.Location, n int, firstID int64) []ticket {
	span := 14 * 30 * 24 * time.Hour // 14 months of history
	start := dataEnd.Add(-span)
	ts := make([]ticket, n)
	created := make([]time.Time, n)
	for i := range created {
		created[i] = start.Add(time.Duration(r.Int64N(int64(span))))
	}
	sort.Slice(created, func(a, b int) bool { return created[a].Before(created[b]) })
	for i := range ts {
		c := created[i].Truncate(time.Second)
		dev := devices[r.IntN(len(devices))]
		if dev.Brand != "Nintendo" && dev.Brand != "Lenovo" && r.IntN(3) > 0 {
			dev.IMEI = fmt.Sprintf("35%013d", r.Int64N(1e13))
		}
		issue := r.IntN(len(issues))
		age := dataEnd.Sub(c)
		// Old tickets are mostly done; recent ones spread over the workflow.
		st := len(sp.statuses) - 2 // completed
		switch {
		case r.IntN(25) == 0:
			st = len(sp.statuses) - 1 // cancelled
		case age < 10*24*time.Hour:
			st = r.IntN(len(sp.statuses) - 1)
		case age < 30*24*time.Hour && r.IntN(4) == 0:
			st = 3 + r.IntN(2)
		}
		updated := c.Add(time.Duration(r.Int64N(int64(72*time.Hour))) + time.Hour)
		if updated.After(dataEnd) {
			updated = dataEnd
		}
		t := ticket{
			ID:          firstID + int64(i),
			TicketRef:   fmt.Sprintf("%s-%05d", strings.ToUpper(sp.name[:1]), i+1),
			Description: fmt.Sprintf("%s %s - %s", dev.Brand, dev.Model, issues[issue]),
			CreatedDate: c.In(zone).Format(mgrTime),
			LastUpdated: updated.In(zone).Format(mgrTime),
			Status:      label{ID: 100 + st, Label: sp.statuses[st]},
			IssueType:   label{ID: 200 + issue, Label: issues[issue]},
			Customer: customerRef{
				ID: fmt.Sprintf("c%06d", r.IntN(n/2+1)),
			},
			Device:  dev,
			Invoice: json.RawMessage(`{}`),
			created: c,
		}
		if st > 0 && r.IntN(8) > 0 {
			tech := sp.techs[r.IntN(len(sp.techs))]
			t.Technician = &tech
		}
		if st >= len(sp.statuses)-3 && st != len(sp.statuses)-1 {
			inv := map[string]any{"id": fmt.Sprintf("inv-%d", t.ID), "number": fmt.Sprintf("INV-%06d", t.ID%1000000)}
			if st == len(sp.statuses)-2 {
				inv["last_payment_date"] = updated.In(zone).Format(mgrTime)
			}
			t.Invoice, _ = json.Marshal(inv)
		}
		if r.IntN(5) == 0 {
			t.CustomFields = map[string]string{"passcode_given": []string{"yes", "no"}[r.IntN(2)]}
		}
		if r.IntN(3) == 0 {
			t.Source = []string{"walk-in", "web", "phone"}[r.IntN(3)]
		}
		ts[i] = t
	}
	// The API's default sort is "newest", but loosely: neighbours are often
	// out of order. The order is stable between requests.
	return loosely(r, ts, func(t ticket) time.Time { return t.created })
}
