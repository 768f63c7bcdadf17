package repairopstest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Expect is what a correct export holds for one table of one organisation:
// the row count and the exact sum of each money or quantity column, printed
// as DuckDB prints a DECIMAL or BIGINT sum ("1234.50", "12.0000", "42").
type Expect struct {
	Rows int
	Sums map[string]string
}

// Expected returns, by qualified table name, what a complete export of the
// organisation holds now, computed from the data in integer units: every
// ticket with its timeline, parts, labor and diagnostics, every customer
// with its repairs, the inventory, and the KPIs from the first day of
// history to the clock's day: each shop's (WithShopIDs), else the
// organisation's.
func (s *Server) Expected(org string) map[string]Expect {
	s.data.RLock()
	defer s.data.RUnlock()
	o := s.Org(org)
	if o == nil {
		return nil
	}
	t := tallies{}
	for _, tk := range o.tickets {
		t.add("repairops.tickets", "total_cost", tk.totalCents(), 2).add("labor_cost", tk.laborCents(), 2).add("parts_cost", tk.partsCents(), 2)
		for range tk.timeline() {
			t.row("repairops.ticket_timeline")
		}
		if tk.reached("DIAGNOSTICS") {
			t.add("repairops.ticket_diagnostics", "estimated_cost", tk.estimate, 2)
		}
		if tk.reached("IN_REPAIR") {
			t.add("repairops.ticket_labor", "hours", int64(tk.quarterHours)*2500, 4).add("rate", tk.rate, 2).add("total", tk.laborCents(), 2)
			for _, p := range tk.parts {
				t.add("repairops.ticket_parts", "quantity", int64(p.Qty)*10000, 4).add("unit_cost", p.Unit, 2).add("total", int64(p.Qty)*p.Unit, 2)
			}
		}
	}
	for _, c := range o.customers {
		t.add("repairops.customers", "lifetime_spend", c.lifetimeCents(), 2).add("total_tickets", int64(len(c.tickets)), 0)
		for _, tk := range c.tickets {
			t.add("repairops.customer_repairs", "cost", tk.totalCents(), 2)
		}
	}
	for _, it := range o.inventory {
		t.add("repairops.inventory", "quantity_on_hand", int64(it.OnHand)*10000, 4).add("cost", it.Cost, 2).add("selling_price", it.Price, 2)
	}
	last := lastKPIDay(s.cfg.clock.Now())
	// KPIs are asked per shop when the tickets name their shops, else for
	// the organisation as a whole.
	shops := []string{""}
	if s.cfg.shopIDs {
		shops = nil
		for _, sh := range o.Shops {
			shops = append(shops, sh.ID)
		}
	}
	for _, shop := range shops {
		for _, k := range o.kpis(shop, o.zeroDay, last) {
			js := k.json()
			e := t.add("repairops.kpi_daily", "revenue", k.Revenue, 2).add("throughput", int64(k.Throughput), 0)
			for _, col := range []string{"avg_turnaround_days", "qc_pass_rate", "customer_satisfaction"} {
				e.add(col, scaled(js[col], 4), 4)
			}
		}
	}
	out := map[string]Expect{}
	for name, tl := range t {
		e := Expect{Rows: tl.rows, Sums: map[string]string{}}
		for c, v := range tl.sums {
			e.Sums[c] = units(v, tl.scale[c])
		}
		out[name] = e
	}
	// Tables the data leaves empty are expected empty, not absent.
	for _, name := range []string{"repairops.ticket_parts", "repairops.ticket_labor", "repairops.ticket_diagnostics", "repairops.customer_repairs"} {
		if _, ok := out[name]; !ok {
			out[name] = Expect{Sums: map[string]string{}}
		}
	}
	return out
}

// KPIFirstDay is the first day the organisation has KPIs for.
func (o *Org) KPIFirstDay() time.Time { return o.zeroDay }

type tally struct {
	rows  int
	sums  map[string]int64
	scale map[string]int
}

type tallies map[string]*tally

// add starts a row of table and adds a column's value to it.
func (ts tallies) add(table, col string, v int64, scale int) *tally {
	return ts.row(table).add(col, v, scale)
}

func (ts tallies) row(table string) *tally {
	t := ts[table]
	if t == nil {
		t = &tally{sums: map[string]int64{}, scale: map[string]int{}}
		ts[table] = t
	}
	t.rows++
	return t
}

func (t *tally) add(col string, v int64, scale int) *tally {
	t.sums[col] += v
	t.scale[col] = scale
	return t
}

// scaled reads a rendered decimal (a json.Number or nil) in units of 10^-scale.
func scaled(v any, scale int) int64 {
	if v == nil {
		return 0
	}
	s := fmt.Sprint(v)
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < scale {
		frac += "0"
	}
	n, _ := strconv.ParseInt(whole+frac[:scale], 10, 64)
	return n
}

// units prints n units of 10^-scale as a decimal literal.
func units(n int64, scale int) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	if scale == 0 {
		return fmt.Sprintf("%s%d", sign, n)
	}
	p := int64(1)
	for range scale {
		p *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, n/p, scale, n%p)
}

// ChangeTickets moves n open tickets of an organisation one step along
// their workflow at the given moment, as the shop's staff would between
// two runs, and returns their ids. The tickets are spread over the open
// ones, oldest and newest alike.
func (s *Server) ChangeTickets(org string, n int, at time.Time) ([]string, error) {
	s.data.Lock()
	defer s.data.Unlock()
	o := s.Org(org)
	if o == nil {
		return nil, fmt.Errorf("repairopstest: no organisation %q", org)
	}
	var open []*ticket
	for _, t := range o.tickets {
		if t.open() {
			open = append(open, t)
		}
	}
	if n > len(open) {
		return nil, fmt.Errorf("repairopstest: %s has %d open tickets, cannot change %d", org, len(open), n)
	}
	var ids []string
	type moved struct {
		t        *ticket
		from, to event
	}
	var events []moved
	for i := 0; i < n; i++ {
		t := open[i*len(open)/n]
		t.advance(at)
		ids = append(ids, t.ID)
		events = append(events, moved{t, t.path[t.step-1], t.path[t.step]})
	}
	for _, m := range events { // the webhooks' lock is taken under the data's, never the other way
		s.queue(org, "ticket.transitioned", m.to.At, map[string]any{"ticket_id": m.t.ID, "ticket_number": m.t.Number,
			"from_status": m.from.Status, "to_status": m.to.Status, "shop_id": m.t.ShopID})
	}
	return ids, nil
}

// AddTickets opens n new tickets at the given moment and returns their ids.
func (s *Server) AddTickets(org string, n int, at time.Time) ([]string, error) {
	s.data.Lock()
	defer s.data.Unlock()
	o := s.Org(org)
	if o == nil {
		return nil, fmt.Errorf("repairopstest: no organisation %q", org)
	}
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, o.addTicket(at.Add(time.Duration(i)*time.Second), at.Add(time.Duration(i)*time.Second)).ID)
	}
	return ids, nil
}

// Delete removes a ticket, customer or inventory item ("tickets",
// "customers", "inventory") as a shop's staff would between two runs: the
// list no longer returns it and its detail answers 404. Expected follows
// the organisation's data, so it no longer counts the record.
func (s *Server) Delete(org, resource, id string) error {
	s.data.Lock()
	defer s.data.Unlock()
	o := s.Org(org)
	if o == nil {
		return fmt.Errorf("repairopstest: no organisation %q", org)
	}
	found := false
	switch resource {
	case "tickets":
		o.tickets = slices.DeleteFunc(o.tickets, func(t *ticket) bool { return t.ID == id })
		_, found = o.ticketByID[id]
		delete(o.ticketByID, id)
	case "customers":
		o.customers = slices.DeleteFunc(o.customers, func(c *customer) bool { return c.ID == id })
		_, found = o.custByID[id]
		delete(o.custByID, id)
	case "inventory":
		n := len(o.inventory)
		o.inventory = slices.DeleteFunc(o.inventory, func(it *item) bool { return it.ID == id })
		found = len(o.inventory) < n
	default:
		return fmt.Errorf("repairopstest: no list %q to delete from", resource)
	}
	if !found {
		return fmt.Errorf("repairopstest: %s has no %s %s", org, resource, id)
	}
	return nil
}
