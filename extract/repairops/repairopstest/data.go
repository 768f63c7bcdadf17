package repairopstest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Org is one simulated RepairOps organisation (one account of the
// exporter): its keys, its shops and its data.
type Org struct {
	Name string
	// Key is the organisation's Read-scoped key, what an export uses.
	Key string
	// Keys holds a key per scope: "read", "write", "admin", and "webhooks"
	// (a scope that may not read: 403).
	Keys  map[string]string
	Shops []ShopInfo

	tickets    []*ticket
	ticketByID map[string]*ticket
	customers  []*customer
	custByID   map[string]*customer
	inventory  []*item
	rng        *rand.Rand
	seq        int
	zeroDay    time.Time // first KPI day
}

// ShopInfo is one shop of an organisation.
type ShopInfo struct {
	ID, Name string
}

// dataEnd is the newest moment in the seeded history. Fixed, so the data is
// the same on every machine and every day.
var dataEnd = time.Date(2026, 11, 15, 18, 0, 0, 0, time.UTC)

// DataEnd is the moment the seeded history ends; tests that change tickets
// do so after it.
func DataEnd() time.Time { return dataEnd }

// Statuses is the workflow a ticket moves through. CANCELLED branches off
// after AWAITING_APPROVAL; a failed QC_REVIEW goes back to IN_REPAIR.
var Statuses = []string{"INTAKE", "TRIAGE", "DIAGNOSTICS", "AWAITING_APPROVAL", "AWAITING_PARTS", "IN_REPAIR", "QC_REVIEW", "READY_FOR_PICKUP", "CLOSED", "CANCELLED"}

type event struct {
	Status string
	At     time.Time
	Actor  string
}

type part struct {
	Name, SKU string
	Qty       int
	Unit      int64 // cents
}

type ticket struct {
	ID, Number, ShopID string
	Customer           *customer
	Device, Category   string
	DeviceDesc         string
	Issue, IssueCat    string
	Severity           string
	Tech, TechName     string
	Created            time.Time
	// path is the ticket's whole planned history; step is how far along it
	// the ticket is now (timeline = path[:step+1]).
	path []event
	step int
	// Costs, known from IN_REPAIR on.
	quarterHours int   // labor hours in quarters
	rate         int64 // cents per hour, a multiple of 4
	parts        []part
	findings     string
	estimate     int64
	recommended  []string
	rating       int // 1..5 once closed
}

type customer struct {
	ID, Name, Email, Phone, Address, ShopID string
	Created                                 time.Time
	tickets                                 []*ticket
}

type item struct {
	ID, SKU, Name, Category, ShopID, Supplier string
	OnHand, Reserved, Reorder                 int
	Cost, Price                               int64
	Updated                                   time.Time
}

func (t *ticket) status() string     { return t.path[t.step].Status }
func (t *ticket) updated() time.Time { return t.path[t.step].At }
func (t *ticket) timeline() []event  { return t.path[:t.step+1] }
func (t *ticket) open() bool         { return t.step < len(t.path)-1 }
func (t *ticket) reached(s string) bool {
	for _, e := range t.timeline() {
		if e.Status == s {
			return true
		}
	}
	return false
}

// closedAt is when the ticket was closed (zero if it is not).
func (t *ticket) closedAt() time.Time {
	if t.status() == "CLOSED" {
		return t.updated()
	}
	return time.Time{}
}

// qcFailed reports whether the ticket went back from QC_REVIEW to repair.
func (t *ticket) qcFailed() bool {
	tl := t.timeline()
	for i := 1; i < len(tl); i++ {
		if tl[i-1].Status == "QC_REVIEW" && tl[i].Status == "IN_REPAIR" {
			return true
		}
	}
	return false
}

func (t *ticket) laborCents() int64 {
	if !t.reached("IN_REPAIR") {
		return 0
	}
	return int64(t.quarterHours) * t.rate / 4
}

func (t *ticket) partsCents() int64 {
	if !t.reached("IN_REPAIR") {
		return 0
	}
	var n int64
	for _, p := range t.parts {
		n += int64(p.Qty) * p.Unit
	}
	return n
}

func (t *ticket) totalCents() int64 { return t.laborCents() + t.partsCents() }

var (
	firstNames = []string{"John", "Maria", "Wei", "Aisha", "Lucas", "Sofia", "Omar", "Hannah", "Kenji", "Ines", "Noah", "Zoë", "Mateo", "Chloé", "Ravi"}
	lastNames  = []string{"Doe", "García", "Chen", "Okafor", "Schmidt", "Rossi", "Haddad", "Müller", "Tanaka", "Silva", "O'Brien", "Nguyen"}
	techs      = []string{"Alice Tech", "Bob Fixer", "Carmen Solder", "Dev Patel"}
	devices    = []struct{ name, category string }{
		{"iPhone 14 Pro", "smartphone"}, {"iPhone 13", "smartphone"}, {"Galaxy S23", "smartphone"}, {"Pixel 8", "smartphone"},
		{"MacBook Pro 16\"", "laptop"}, {"ThinkPad X1 Carbon", "laptop"}, {"iPad Air", "tablet"}, {"Switch OLED", "console"},
	}
	issues = []struct{ desc, category string }{
		{"Cracked screen", "physical_damage"}, {"Won't turn on", "power"}, {"Battery drains fast", "battery"},
		{"Liquid damage", "liquid_damage"}, {"Charging port loose", "physical_damage"}, {"Keyboard keys stuck", "input"},
	}
	partsCatalog = []part{
		{"Screen assembly", "SCR-001", 1, 8000}, {"Digitizer", "DIG-002", 1, 4550}, {"Battery", "BAT-003", 1, 3999},
		{"Charging port", "CHP-004", 1, 1275}, {"Keyboard", "KBD-005", 1, 6420}, {"Adhesive kit", "ADH-006", 2, 199},
		{"Logic board", "LGB-007", 1, 21500}, {"Screws (set)", "SCW-008", 3, 35},
	}
	severities = []string{"low", "medium", "high"}
)

func (o *Org) uuid() string {
	o.seq++
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", o.rng.Uint32(), o.rng.IntN(1<<16), o.seq%4096, 0x8000|o.rng.IntN(1<<14), o.rng.Uint64()&(1<<48-1))
}

// newOrg seeds an organisation: shops, customers, tickets spread over the
// ten months before dataEnd (older ones closed, recent ones in progress),
// inventory per shop.
func newOrg(name string, shops, tickets int, seed uint64) *Org {
	o := &Org{Name: name, Keys: map[string]string{}, ticketByID: map[string]*ticket{}, custByID: map[string]*customer{}, rng: rand.New(rand.NewPCG(seed, uint64(len(name))))}
	for _, scope := range []string{"read", "write", "admin", "webhooks"} {
		o.Keys[scope] = fmt.Sprintf("ro_%s_%s_%016x", scope, name, o.rng.Uint64())
	}
	o.Key = o.Keys["read"]
	towns := []string{"Downtown", "Harbour", "Northgate", "Riverside"}
	for i := 0; i < shops; i++ {
		o.Shops = append(o.Shops, ShopInfo{ID: o.uuid(), Name: strings.ToUpper(name[:1]) + name[1:] + " " + towns[i%len(towns)]})
	}
	start := dataEnd.AddDate(0, -10, 0)
	o.zeroDay = start.Truncate(24 * time.Hour)
	for i := 0; i < max(tickets*2/5, 1); i++ {
		fn, ln := firstNames[o.rng.IntN(len(firstNames))], lastNames[o.rng.IntN(len(lastNames))]
		c := &customer{ID: o.uuid(), Name: fn + " " + ln,
			Email:   strings.ToLower(strings.ReplaceAll(fn+"."+ln, "'", "")) + fmt.Sprintf("%d@example.com", i),
			Phone:   fmt.Sprintf("555-%04d", o.rng.IntN(10000)),
			Address: fmt.Sprintf("%d Main St, Anytown, NY %05d", 1+o.rng.IntN(999), 10000+o.rng.IntN(89999)),
			ShopID:  o.Shops[o.rng.IntN(shops)].ID,
			Created: start.Add(-time.Duration(o.rng.IntN(400*24)) * time.Hour)}
		o.customers = append(o.customers, c)
		o.custByID[c.ID] = c
	}
	span := dataEnd.Sub(start)
	for i := 0; i < tickets; i++ {
		created := start.Add(time.Duration(float64(span) * (float64(i) + o.rng.Float64()) / float64(tickets))).Truncate(time.Second)
		o.addTicket(created, dataEnd)
	}
	for _, sh := range o.Shops {
		for j, p := range partsCatalog {
			o.inventory = append(o.inventory, &item{ID: o.uuid(), SKU: fmt.Sprintf("%s-%s", p.SKU, sh.ID[:4]), Name: p.Name,
				Category: []string{"screens", "screens", "batteries", "ports", "keyboards", "consumables", "boards", "consumables"}[j],
				ShopID:   sh.ID, OnHand: o.rng.IntN(30), Reserved: o.rng.IntN(3), Reorder: 2 + o.rng.IntN(4),
				Cost: p.Unit, Price: p.Unit*2 + 99, Supplier: []string{"Tech Parts Inc", "iFixit Pro", "Shenzhen Direct"}[j%3],
				Updated: dataEnd.Add(-time.Duration(o.rng.IntN(30*24)) * time.Hour)})
		}
	}
	return o
}

// addTicket creates a ticket at created and plays its workflow up to now.
// Tickets are added in the order they were created.
func (o *Org) addTicket(created, now time.Time) *ticket {
	n := len(o.tickets) + 1
	dev, iss := devices[o.rng.IntN(len(devices))], issues[o.rng.IntN(len(issues))]
	c := o.customers[o.rng.IntN(len(o.customers))]
	shop := c.ShopID
	if o.rng.IntN(4) == 0 {
		shop = o.Shops[o.rng.IntN(len(o.Shops))].ID
	}
	tech := o.rng.IntN(len(techs))
	t := &ticket{ID: o.uuid(), Number: fmt.Sprintf("T%06d", 1000+n), ShopID: shop, Customer: c,
		Device: dev.name, Category: dev.category, DeviceDesc: []string{"Black, 128GB", "Blue, 256GB", "Silver", "Space grey, 512GB"}[o.rng.IntN(4)],
		Issue: iss.desc, IssueCat: iss.category, Severity: severities[o.rng.IntN(3)],
		Tech: fmt.Sprintf("tech-%02d", tech+1), TechName: techs[tech], Created: created,
		quarterHours: 1 + o.rng.IntN(12), rate: []int64{6000, 6500, 7500, 8500}[o.rng.IntN(4)], rating: 3 + o.rng.IntN(3)}
	for k := 0; k < 1+o.rng.IntN(3); k++ {
		p := partsCatalog[o.rng.IntN(len(partsCatalog))]
		t.parts = append(t.parts, p)
	}
	for _, p := range t.parts {
		t.estimate += int64(p.Qty) * p.Unit
		t.recommended = append(t.recommended, p.Name)
	}
	t.estimate += int64(t.quarterHours) * t.rate / 4
	t.findings = iss.desc + "; " + []string{"confirmed on the bench", "further damage found", "as described by the customer"}[o.rng.IntN(3)]
	// The planned path: the workflow with a QC failure now and then and a
	// cancellation after the estimate now and then.
	steps := []string{"INTAKE", "TRIAGE", "DIAGNOSTICS", "AWAITING_APPROVAL"}
	if o.rng.IntN(12) == 0 {
		steps = append(steps, "CANCELLED")
	} else {
		if o.rng.IntN(3) == 0 {
			steps = append(steps, "AWAITING_PARTS")
		}
		steps = append(steps, "IN_REPAIR", "QC_REVIEW")
		if o.rng.IntN(6) == 0 {
			steps = append(steps, "IN_REPAIR", "QC_REVIEW")
		}
		steps = append(steps, "READY_FOR_PICKUP", "CLOSED")
	}
	at := created
	for k, s := range steps {
		if k > 0 {
			gap := 30 + o.rng.IntN(72*60) // minutes
			if steps[k-1] == "AWAITING_PARTS" {
				gap += o.rng.IntN(7 * 24 * 60)
			}
			at = at.Add(time.Duration(gap) * time.Minute)
		}
		actor := techs[tech]
		if k == 0 {
			actor = c.Name + " (customer)"
		}
		t.path = append(t.path, event{Status: s, At: at, Actor: actor})
	}
	for t.step < len(t.path)-1 && !t.path[t.step+1].At.After(now) {
		t.step++
	}
	o.tickets = append(o.tickets, t)
	o.ticketByID[t.ID] = t
	c.tickets = append(c.tickets, t)
	if c.Created.After(created) {
		c.Created = created.Add(-time.Hour)
	}
	return t
}

// advance moves a ticket one step along its path, at.
func (t *ticket) advance(at time.Time) {
	if !t.open() {
		return
	}
	t.step++
	if at.Before(t.path[t.step-1].At) {
		at = t.path[t.step-1].At.Add(time.Minute)
	}
	// The rest of the plan shifts with it, so the timeline stays ordered.
	shift := at.Sub(t.path[t.step].At)
	for k := t.step; k < len(t.path); k++ {
		t.path[k].At = t.path[k].At.Add(shift)
	}
}

// customer figures, from the tickets.
func (c *customer) lifetimeCents() int64 {
	var n int64
	for _, t := range c.tickets {
		if t.status() == "CLOSED" {
			n += t.totalCents()
		}
	}
	return n
}

func (c *customer) lastRepair() time.Time {
	var last time.Time
	for _, t := range c.tickets {
		if t.Created.After(last) {
			last = t.Created
		}
	}
	return last
}

// TicketIDs returns every ticket id, oldest first.
func (o *Org) TicketIDs() []string {
	ids := make([]string, len(o.tickets))
	for i, t := range o.tickets {
		ids[i] = t.ID
	}
	return ids
}

// Tickets is the number of tickets the organisation holds.
func (o *Org) Tickets() int { return len(o.tickets) }

// Customers is the number of customers.
func (o *Org) Customers() int { return len(o.customers) }

// InventoryItems is the number of inventory items.
func (o *Org) InventoryItems() int { return len(o.inventory) }

// CustomerIDs returns every customer id.
func (o *Org) CustomerIDs() []string {
	ids := make([]string, len(o.customers))
	for i, c := range o.customers {
		ids[i] = c.ID
	}
	return ids
}

// InventoryIDs returns every inventory item id.
func (o *Org) InventoryIDs() []string {
	ids := make([]string, len(o.inventory))
	for i, it := range o.inventory {
		ids[i] = it.ID
	}
	return ids
}
