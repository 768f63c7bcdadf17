package repairopstest

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// money renders cents as a JSON number with two decimals, as the API does.
type money int64

func (m money) MarshalJSON() ([]byte, error) {
	sign := ""
	n := int64(m)
	if n < 0 {
		sign, n = "-", -n
	}
	return []byte(fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)), nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// listJSON is a ticket as GET /tickets shows it: the documented summary,
// shop_id (which the create call takes) and two fields the docs never
// mention.
func (t *ticket) listJSON() map[string]any {
	return map[string]any{
		"id": t.ID, "number": t.Number, "status": t.status(), "shop_id": t.ShopID,
		"customer_id": t.Customer.ID, "customer_name": t.Customer.Name,
		"device_identifier": t.Device, "issue_description": t.Issue,
		"total_cost": money(t.totalCents()), "labor_cost": money(t.laborCents()), "parts_cost": money(t.partsCents()),
		"created_at": ts(t.Created), "updated_at": ts(t.updated()),
		"assigned_to": t.Tech, "assigned_to_name": t.TechName,
		"priority": map[string]string{"low": "normal", "medium": "normal", "high": "urgent"}[t.Severity],
		"tags":     []string{t.Category},
	}
}

// detailJSON is GET /tickets/:id exactly in the documented shape: nested
// customer, device and issue, the timeline, diagnostics once diagnosed,
// labor and parts once in repair. Like the documented example it carries
// neither shop_id nor assigned_to: those are on the list only.
func (t *ticket) detailJSON() map[string]any {
	tl := make([]map[string]any, 0, t.step+1)
	for _, e := range t.timeline() {
		tl = append(tl, map[string]any{"status": e.Status, "timestamp": ts(e.At), "actor": e.Actor})
	}
	d := map[string]any{
		"id": t.ID, "number": t.Number, "status": t.status(),
		"customer": map[string]any{"id": t.Customer.ID, "name": t.Customer.Name, "email": t.Customer.Email, "phone": t.Customer.Phone},
		"device":   map[string]any{"identifier": t.Device, "category": t.Category, "description": t.DeviceDesc},
		"issue":    map[string]any{"description": t.Issue, "category": t.IssueCat, "severity": t.Severity},
		"timeline": tl, "total_cost": money(t.totalCents()),
		"created_at": ts(t.Created), "updated_at": ts(t.updated()),
		"warranty": map[string]any{"days": 90, "void_if_opened": false},
	}
	if t.reached("DIAGNOSTICS") {
		d["diagnostics"] = map[string]any{"findings": t.findings, "estimated_cost": money(t.estimate), "recommended_parts": t.recommended}
	}
	if t.reached("IN_REPAIR") {
		d["labor"] = map[string]any{"hours": json.Number(fmt.Sprintf("%.2f", float64(t.quarterHours)/4)), "rate": money(t.rate), "total": money(t.laborCents())}
		ps := make([]map[string]any, 0, len(t.parts))
		for _, p := range t.parts {
			ps = append(ps, map[string]any{"name": p.Name, "quantity": p.Qty, "unit_cost": money(p.Unit), "total": money(int64(p.Qty) * p.Unit)})
		}
		d["parts"] = ps
	}
	return d
}

func (c *customer) listJSON() map[string]any {
	m := map[string]any{
		"id": c.ID, "name": c.Name, "email": c.Email, "phone": c.Phone, "address": c.Address, "shop_id": c.ShopID,
		"lifetime_spend": money(c.lifetimeCents()), "total_tickets": len(c.tickets),
		"created_at": ts(c.Created), "marketing_opt_in": len(c.Name)%2 == 0,
	}
	if last := c.lastRepair(); !last.IsZero() {
		m["last_repair_date"] = last.Format("2006-01-02")
	} else {
		m["last_repair_date"] = nil
	}
	return m
}

func (c *customer) detailJSON() map[string]any {
	m := c.listJSON()
	repairs := make([]map[string]any, 0, len(c.tickets))
	for _, t := range c.tickets {
		repairs = append(repairs, map[string]any{"ticket_id": t.ID, "date": t.Created.Format("2006-01-02"), "device": t.Device, "status": t.status(), "cost": money(t.totalCents())})
	}
	m["repairs"] = repairs
	return m
}

func (it *item) listJSON() map[string]any {
	return map[string]any{
		"id": it.ID, "sku": it.SKU, "name": it.Name, "category": it.Category, "shop_id": it.ShopID,
		"quantity_on_hand": it.OnHand, "quantity_reserved": it.Reserved, "quantity_available": max(it.OnHand-it.Reserved, 0),
		"cost": money(it.Cost), "selling_price": money(it.Price), "reorder_level": it.Reorder,
		"supplier": it.Supplier, "last_updated": ts(it.Updated),
	}
}

// kpiDay is one day's KPIs for a shop (or the organisation), computed from
// the tickets closed that day. Ratios are rendered to four places, days
// and scores to two: the exact figures an export must hold.
type kpiDay struct {
	Date       time.Time
	Revenue    int64 // cents
	Throughput int
	turnaround int64 // sum of seconds
	qcPassed   int
	rating     int
	labor      int64
	parts      int64
}

func (k *kpiDay) json() map[string]any {
	m := map[string]any{"date": k.Date.Format("2006-01-02"), "revenue": money(k.Revenue), "throughput": k.Throughput,
		"avg_turnaround_days": nil, "qc_pass_rate": nil, "customer_satisfaction": nil, "labor_margin": nil, "parts_margin": nil}
	if k.Throughput > 0 {
		n := float64(k.Throughput)
		m["avg_turnaround_days"] = json.Number(fixed(float64(k.turnaround)/86400/n, 2))
		m["qc_pass_rate"] = json.Number(fixed(float64(k.qcPassed)/n, 4))
		m["customer_satisfaction"] = json.Number(fixed(float64(k.rating)/n, 2))
		// Margins: labor costs the shop 40 % of what it bills, parts 55 %.
		m["labor_margin"] = json.Number("0.6000")
		m["parts_margin"] = json.Number("0.4500")
		if k.labor+k.parts == 0 {
			m["labor_margin"], m["parts_margin"] = nil, nil
		}
	}
	return m
}

// fixed prints v rounded half away from zero to places decimals.
func fixed(v float64, places int) string {
	p := math.Pow(10, float64(places))
	return fmt.Sprintf("%.*f", places, math.Round(v*p)/p)
}

// kpis computes the daily KPIs of a shop ("" for the whole organisation)
// from first to last (inclusive days, UTC).
func (o *Org) kpis(shop string, first, last time.Time) []*kpiDay {
	days := map[string]*kpiDay{}
	var out []*kpiDay
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		k := &kpiDay{Date: d}
		days[d.Format("2006-01-02")] = k
		out = append(out, k)
	}
	for _, t := range o.tickets {
		if shop != "" && t.ShopID != shop {
			continue
		}
		closed := t.closedAt()
		if closed.IsZero() {
			continue
		}
		k := days[closed.Format("2006-01-02")]
		if k == nil {
			continue
		}
		k.Revenue += t.totalCents()
		k.Throughput++
		k.turnaround += int64(closed.Sub(t.Created) / time.Second)
		if !t.qcFailed() {
			k.qcPassed++
		}
		k.rating += t.rating
		k.labor += t.laborCents()
		k.parts += t.partsCents()
	}
	return out
}

// lastKPIDay is the newest day with KPIs: the clock's day.
func lastKPIDay(now time.Time) time.Time { return now.UTC().Truncate(24 * time.Hour) }
