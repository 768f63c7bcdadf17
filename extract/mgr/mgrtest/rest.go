package mgrtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// record is one record of a list resource as the server holds it.
type record struct {
	id      string
	created time.Time // zero where the createdDate filters do not apply
	list    []byte    // the record on a list page
	detail  []byte    // GET /{resource}/{id}; nil where there is no detail endpoint
}

// collection is one list resource of a shop, in the server's order.
type collection struct {
	items []record
	byID  map[string]int
}

func (c *collection) add(r record) {
	if c.byID == nil {
		c.byID = map[string]int{}
	}
	c.byID[r.id] = len(c.items)
	c.items = append(c.items, r)
}

// Expect is what a correct export holds for one table of one shop: the row
// count and the exact sum of each money or quantity column, printed as
// DuckDB prints a DECIMAL sum ("1234.50" for money, "12.0000" for
// quantities).
type Expect struct {
	Rows int
	Sums map[string]string
}

// Expected returns, by qualified table name ("mgr.ticket_invoice_lines"),
// what a complete export of the shop holds, computed from the seeded data
// in integer cents.
func (s *Shop) Expected() map[string]Expect {
	out := make(map[string]Expect, len(s.expect))
	for k, e := range s.expect {
		sums := make(map[string]string, len(e.Sums))
		for c, v := range e.Sums {
			sums[c] = v
		}
		out[k] = Expect{Rows: e.Rows, Sums: sums}
	}
	return out
}

// Resources lists the shop's list resources (paths below /v1).
func (s *Shop) Resources() []string {
	out := make([]string, 0, len(s.colls))
	for k := range s.colls {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Count is the number of records a list resource holds.
func (s *Shop) Count(resource string) int {
	if c := s.colls[resource]; c != nil {
		return len(c.items)
	}
	return 0
}

// tally accumulates Expected.
type tally struct {
	rows  int
	sums  map[string]int64
	scale map[string]int
}

func (s *Shop) tally(table string) *tally {
	if s.expect == nil {
		s.expect = map[string]*Expect{}
		s.tallies = map[string]*tally{}
	}
	t := s.tallies[table]
	if t == nil {
		t = &tally{sums: map[string]int64{}, scale: map[string]int{}}
		s.tallies[table] = t
	}
	return t
}

func (t *tally) row() *tally { t.rows++; return t }

// money adds cents; qty adds a whole quantity (DECIMAL(18,4)).
func (t *tally) money(col string, cents int64) *tally {
	t.sums[col] += cents
	t.scale[col] = 2
	return t
}

func (t *tally) qty(col string, n int64) *tally {
	t.sums[col] += n * 10000
	t.scale[col] = 4
	return t
}

func (s *Shop) closeTallies() {
	for name, t := range s.tallies {
		e := &Expect{Rows: t.rows, Sums: map[string]string{}}
		for c, v := range t.sums {
			e.Sums[c] = units(v, t.scale[c])
		}
		s.expect[name] = e
	}
}

// units prints n units of 10^-scale as a decimal literal.
func units(n int64, scale int) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	p := int64(1)
	for range scale {
		p *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, n/p, scale, n%p)
}

// cents renders money the way MGR-like APIs do: sometimes a string, sometimes a number.
func cents(n int64, asString bool) any {
	if asString {
		return units(n, 2)
	}
	return json.Number(units(n, 2))
}

type product struct {
	id           int
	typ, name    string
	code         string
	brand, model string
	retail, cost int64
}

type lineSpec struct {
	product *product
	name    string
	qty     int64 // in 1/10 units (15 = 1.5)
	price   int64
}

func (l lineSpec) total() int64 { return l.qty * l.price / 10 }

func qtyText(q int64) any {
	if q%10 == 0 {
		return json.Number(fmt.Sprint(q / 10))
	}
	return fmt.Sprintf("%d.%d", q/10, q%10)
}

type shopBooks struct {
	taxRate  int64 // percent × 10000 (8.875 % = 88750)
	currency string
	methods  []string
	paid     [3]string // labels: paid, partially paid, unpaid
}

var books = []shopBooks{
	{taxRate: 88750, currency: "USD", methods: []string{"Cash", "Credit Card", "Debit Card", "Gift Card"}, paid: [3]string{"Paid", "Partially Paid", "Unpaid"}},
	{taxRate: 210000, currency: "EUR", methods: []string{"Efectivo", "Tarjeta", "Bizum", "Transferencia"}, paid: [3]string{"Pagada", "Pago parcial", "Pendiente"}},
}

// tax is the tax on a subtotal at rate (percent × 10000), rounded half up.
func tax(subtotal, rate int64) int64 { return (subtotal*rate + 500000) / 1000000 }

// seedRest seeds every resource besides tickets, consistently with them:
// customers the tickets name, invoices of the invoiced tickets whose totals
// are their lines plus tax and whose payments sum to the amount paid, POS
// sales, purchase orders from the shop's suppliers for its products (some
// partly received), and the reference lists.
func seedRest(r *rand.Rand, sh *Shop, sp shopSpec, idx int) {
	bk := books[idx%len(books)]
	sh.Currency = bk.currency
	sh.colls = map[string]*collection{}
	put := func(res string, rec record) {
		c := sh.colls[res]
		if c == nil {
			c = &collection{}
			sh.colls[res] = c
		}
		c.add(rec)
	}
	raw := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // plain maps: cannot fail
		}
		return b
	}
	ts := func(t time.Time) string { return t.In(sh.Zone).Format(mgrTime) }
	spanStart := dataEnd.Add(-16 * 30 * 24 * time.Hour)
	when := func() time.Time {
		return spanStart.Add(time.Duration(r.Int64N(int64(dataEnd.Sub(spanStart))))).Truncate(time.Second)
	}

	// Reference lists, in id order.
	brandID := map[string]int{}
	var brandNames []string
	for _, d := range devices {
		if _, ok := brandID[d.Brand]; !ok {
			brandID[d.Brand] = len(brandNames) + 1
			brandNames = append(brandNames, d.Brand)
		}
	}
	for _, b := range []string{"Anker", "Belkin"} {
		brandID[b] = len(brandNames) + 1
		brandNames = append(brandNames, b)
	}
	for i, b := range brandNames {
		put("brands", record{id: fmt.Sprint(i + 1), list: raw(map[string]any{"id": i + 1, "name": b})})
		sh.tally("mgr.brands").row()
	}
	for i, d := range devices {
		m := map[string]any{"id": 500 + i, "name": d.Model}
		if idx%2 == 0 {
			m["brand"] = map[string]any{"id": brandID[d.Brand], "name": d.Brand}
		} else {
			m["brand_id"], m["brand_name"] = brandID[d.Brand], d.Brand
		}
		put("models", record{id: fmt.Sprint(500 + i), list: raw(m)})
		sh.tally("mgr.models").row()
	}
	for i, st := range sp.statuses {
		put("statuses", record{id: fmt.Sprint(100 + i), list: raw(map[string]any{"id": 100 + i, "label": st, "color": fmt.Sprintf("#%06x", r.IntN(1<<24)), "position": i + 1})})
		sh.tally("mgr.statuses").row()
	}
	for i, is := range issues {
		put("issueTypes", record{id: fmt.Sprint(200 + i), list: raw(map[string]any{"id": 200 + i, "label": is})})
		sh.tally("mgr.issue_types").row()
	}
	for i, m := range bk.methods {
		put("paymentMethods", record{id: fmt.Sprint(i + 1), list: raw(map[string]any{"id": i + 1, "name": m, "active": i < 3})})
		sh.tally("mgr.payment_methods").row()
	}
	for i, tr := range []struct {
		name string
		rate int64
	}{{"Standard", bk.taxRate}, {"Reduced", bk.taxRate / 2}, {"Exempt", 0}} {
		put("taxRates", record{id: fmt.Sprint(i + 1), list: raw(map[string]any{"id": i + 1, "name": tr.name, "rate": units(tr.rate, 4), "is_default": i == 0})})
		sh.tally("mgr.tax_rates").row()
	}
	customFields := map[string][]map[string]any{
		"tickets": {
			{"id": 1, "name": "Passcode given", "type": "dropdown", "options": []string{"yes", "no"}, "required": false},
			{"id": 2, "name": "Data backed up", "type": "checkbox", "required": true},
		},
		"customers": {{"id": 3, "name": "Marketing consent", "type": "checkbox"}},
		"products":  {{"id": 4, "name": "Bin location", "type": "text", "position": 1}},
	}
	if idx%2 == 1 {
		customFields["products"] = nil // this shop defined none: the list is []
	}
	for _, typ := range []string{"tickets", "customers", "products"} {
		sh.colls["customFields/"+typ] = &collection{}
		for _, f := range customFields[typ] {
			put("customFields/"+typ, record{id: fmt.Sprint(f["id"]), list: raw(f)})
			sh.tally("mgr.custom_fields").row()
		}
	}
	users := append([]person(nil), sp.techs...)
	users = append(users, person{ID: 90 + idx, FirstName: "Front", LastName: "Desk", Email: fmt.Sprintf("desk@%s.example", sp.name)})
	for i, u := range users {
		role := "Technician"
		if i == len(users)-1 {
			role = "Front Desk"
		}
		m := map[string]any{"id": u.ID, "first_name": u.FirstName, "last_name": u.LastName, "email": u.Email, "role": role, "active": true, "phone": nil}
		put("users", record{id: fmt.Sprint(u.ID), list: raw(m), detail: raw(m)})
		sh.tally("mgr.users").row()
	}
	suppliers := []string{"Mobile Parts Direct", "iFix Wholesale", "Component Hub", "Pacific Screens"}
	for i, name := range suppliers {
		m := map[string]any{
			"id": 300 + i, "name": name, "contact_name": firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))],
			"email": fmt.Sprintf("orders@supplier%d.example", i+1), "phone": fmt.Sprintf("+1 555 01%02d", i),
			"fulladdress":    map[string]any{"address": fmt.Sprintf("%d Industrial Way", 10+i), "city": "Springfield", "post_code": fmt.Sprintf("%05d", 10000+i), "country": "US"},
			"account_number": fmt.Sprintf("ACC-%04d", r.IntN(10000)), // not in the docs
		}
		if i == 3 {
			m["fulladdress"], m["phone"] = map[string]any{}, nil
		}
		put("suppliers", record{id: fmt.Sprint(300 + i), list: raw(m), detail: raw(m)})
		sh.tally("mgr.suppliers").row()
	}

	// Products: parts per device, accessories, services.
	var products []*product
	pid := 5000 + 1000*idx
	addProduct := func(p product) *product {
		pid++
		p.id = pid
		products = append(products, &p)
		return &p
	}
	partFor := map[string]*product{}
	for _, d := range devices {
		for _, part := range []struct {
			name  string
			price int64
		}{{"Screen", 8900 + 500*r.Int64N(40)}, {"Battery", 4900 + 500*r.Int64N(10)}, {"Back glass", 5900 + 500*r.Int64N(8)}, {"Charging port", 3900 + 500*r.Int64N(6)}} {
			p := addProduct(product{typ: "part", name: part.name + " - " + d.Brand + " " + d.Model, brand: d.Brand, model: d.Model,
				code: strings.ToUpper(part.name[:3]) + "-" + strings.ReplaceAll(strings.ToUpper(d.Model), " ", ""), retail: part.price, cost: part.price * 4 / 10})
			partFor[d.Model+"|"+part.name] = p
		}
	}
	var accessories []*product
	for _, a := range []struct {
		name, brand string
		price       int64
	}{{"USB-C cable 1m", "Anker", 1299}, {"20W charger", "Anker", 1999}, {"Tempered glass", "Belkin", 999}, {"Clear case", "Belkin", 1499}, {"Wireless charger", "Belkin", 3499}, {"Lightning cable 1m", "Anker", 1299}} {
		accessories = append(accessories, addProduct(product{typ: "accessory", name: a.name, brand: a.brand, code: fmt.Sprintf("ACC-%03d", len(accessories)+1), retail: a.price, cost: a.price / 2}))
	}
	labour := addProduct(product{typ: "service", name: "Labour (per hour)", code: "LAB", retail: 4500})
	addProduct(product{typ: "service", name: "Diagnostic fee", code: "DIAG", retail: 2500})
	for _, p := range products {
		m := map[string]any{"id": p.id, "type": p.typ, "name": p.name, "code": p.code,
			"prices":        map[string]any{"retail_price": cents(p.retail, true), "cost_price": cents(p.cost, false), "vat": units(bk.taxRate, 4)},
			"created_date":  ts(spanStart.Add(time.Duration(p.id%97) * time.Hour)),
			"warranty_days": 90} // not in the docs
		if p.typ == "service" {
			m["stock"], m["brand"], m["model"] = nil, "", map[string]any{}
		} else {
			m["stock"] = r.IntN(25)
			if idx%2 == 1 {
				m["brand"] = map[string]any{"id": brandID[p.brand], "name": p.brand}
			} else {
				m["brand"], m["model"] = p.brand, p.model
			}
		}
		put("products", record{id: fmt.Sprint(p.id), list: raw(m), detail: raw(m)})
		sh.tally("mgr.products").row().money("prices_retail_price", p.retail).money("prices_cost_price", p.cost)
	}

	// Customers, whom the tickets already name by id.
	nCust := len(sh.tickets)/2 + 1
	custName := make([]string, nCust)
	var custs []record
	for i := range nCust {
		first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		custName[i] = first + " " + last
		created := when()
		m := map[string]any{
			"id": fmt.Sprintf("c%06d", i), "ref": fmt.Sprintf("CUS-%05d", i+1),
			"name_parts":   map[string]any{"first_name": first, "middle_name": nil, "last_name": last},
			"email":        strings.ToLower(fmt.Sprintf("%s.%s%d@mail.example", first, strings.ReplaceAll(last, "'", ""), i)),
			"mobile":       fmt.Sprintf("+1 555 %07d", r.IntN(1e7)),
			"phone":        nil,
			"company":      "",
			"fulladdress":  map[string]any{"address": fmt.Sprintf("%d Main St", 1+r.IntN(999)), "city": "Springfield", "post_code": fmt.Sprintf("%05d", r.IntN(99999)), "country": "US"},
			"created_date": ts(created), "last_updated": ts(created.Add(time.Duration(r.IntN(500)) * time.Hour)),
			"marketing_opt_in": r.IntN(2) == 0, // not in the docs
		}
		if r.IntN(10) == 0 {
			m["fulladdress"] = map[string]any{}
		}
		if r.IntN(12) == 0 {
			m["email"] = nil
		}
		if r.IntN(15) == 0 {
			m["company"] = lastNames[r.IntN(len(lastNames))] + " Ltd"
		}
		custs = append(custs, record{id: fmt.Sprintf("c%06d", i), created: created, list: raw(m), detail: raw(m)})
		sh.tally("mgr.customers").row()
	}
	for _, c := range looseNewestFirst(r, custs) {
		put("customers", c)
	}
	for i := range sh.tickets {
		var n int
		fmt.Sscanf(sh.tickets[i].Customer.ID, "c%06d", &n)
		sh.tickets[i].Customer.Name = custName[n]
	}

	// Ticket invoices, for the tickets that carry one.
	lineID := 1
	nextLine := func() int { lineID++; return lineID }
	var invs []record
	for ti := range sh.tickets {
		t := &sh.tickets[ti]
		var ref struct {
			ID     string `json:"id"`
			Number string `json:"number"`
		}
		if json.Unmarshal(t.Invoice, &ref) != nil || ref.ID == "" {
			continue
		}
		updated, _ := time.Parse(mgrTime, t.LastUpdated)
		created := t.created.Add(updated.Sub(t.created) / 2).Truncate(time.Second)
		var lines []lineSpec
		issue := t.IssueType.Label
		for _, part := range []string{"Screen", "Battery", "Back glass", "Charging port"} {
			if strings.Contains(strings.ToLower(issue), strings.ToLower(part)) || (part == "Screen" && issue == "Cracked screen") || (part == "Battery" && issue == "Battery replacement") {
				if p := partFor[t.Device.Model+"|"+part]; p != nil {
					lines = append(lines, lineSpec{product: p, name: p.name, qty: 10, price: p.retail})
					break
				}
			}
		}
		lines = append(lines, lineSpec{product: labour, name: "Labour", qty: int64(5 + 5*r.IntN(4)), price: labour.retail})
		if r.IntN(4) == 0 {
			a := accessories[r.IntN(len(accessories))]
			lines = append(lines, lineSpec{product: a, name: a.name, qty: int64(10 * (1 + r.IntN(2))), price: a.retail})
		}
		// Completed tickets are paid in full (sometimes a deposit first);
		// a third of those ready for collection have paid a deposit.
		st := t.Status.ID - 100
		completed := st == len(sp.statuses)-2
		deposit := r.IntN(3) == 0
		doc := invoiceDoc(bk, lines, t.Customer, created)
		var pays []payment
		if deposit {
			pays = append(pays, payment{amount: doc.total * 3 / 10, at: created})
		}
		if completed {
			pays = append(pays, payment{amount: doc.total - sumPays(pays), at: updated})
		}
		list, detail := doc.render(r, bk, pays, ts, nextLine)
		list["id"], detail["id"] = ref.ID, ref.ID
		list["invoice_number"], detail["invoice_number"] = ref.Number, ref.Number
		tk := map[string]any{"id": t.ID, "ticket_ref": t.TicketRef}
		list["ticket"], detail["ticket"] = tk, tk
		// The ticket's invoice summary agrees with the invoice.
		summary := map[string]any{"id": ref.ID, "number": ref.Number}
		if len(pays) > 0 {
			summary["last_payment_date"] = ts(pays[len(pays)-1].at)
		}
		t.Invoice = raw(summary)
		invs = append(invs, record{id: ref.ID, created: created, list: raw(list), detail: raw(detail)})
		doc.count(sh, "mgr.ticket_invoices", "mgr.ticket_invoice_lines", "mgr.ticket_invoice_payments", pays)
	}
	for _, inv := range looseNewestFirst(r, invs) {
		put("ticketInvoices", inv)
	}

	// POS sales: accessories and parts over the counter, paid at the till.
	var pos []record
	for i := range max(len(sh.tickets)/4, 3) {
		created := when()
		var lines []lineSpec
		for range 1 + r.IntN(3) {
			p := accessories[r.IntN(len(accessories))]
			if r.IntN(4) == 0 {
				p = products[r.IntN(len(products)-2)]
			}
			lines = append(lines, lineSpec{product: p, name: p.name, qty: int64(10 * (1 + r.IntN(3))), price: p.retail})
		}
		cust := customerRef{}
		if r.IntN(5) < 3 {
			n := r.IntN(nCust)
			cust = customerRef{ID: fmt.Sprintf("c%06d", n), Name: custName[n]}
		}
		doc := invoiceDoc(bk, lines, cust, created)
		pays := []payment{{amount: doc.total, at: created}}
		if r.IntN(6) == 0 { // split across two methods
			pays = []payment{{amount: doc.total / 2, at: created}, {amount: doc.total - doc.total/2, at: created}}
		}
		list, detail := doc.render(r, bk, pays, ts, nextLine)
		id := 900000 + 100000*idx + i
		number := fmt.Sprintf("POS-%05d", i+1)
		list["id"], detail["id"] = id, id
		list["invoice_number"], detail["invoice_number"] = number, number
		u := map[string]any{"id": users[r.IntN(len(users))].ID}
		list["user"], detail["user"] = u, u
		pos = append(pos, record{id: fmt.Sprint(id), created: created, list: raw(list), detail: raw(detail)})
		doc.count(sh, "mgr.pos_invoices", "mgr.pos_invoice_lines", "mgr.pos_invoice_payments", pays)
	}
	for _, p := range looseNewestFirst(r, pos) {
		put("posInvoices", p)
	}

	// Purchase orders from the suppliers for parts; recent ones are still
	// open or partly received.
	var pos2 []record
	parts := products[:len(devices)*4]
	for i := range max(len(sh.tickets)/25, 4) {
		created := when()
		sup := r.IntN(len(suppliers))
		age := dataEnd.Sub(created)
		status, recvd := "Received", func(o int64) int64 { return o }
		switch {
		case age < 7*24*time.Hour:
			status, recvd = "Ordered", func(int64) int64 { return 0 }
		case age < 30*24*time.Hour || r.IntN(6) == 0 || i == 0:
			status, recvd = "Partially Received", func(o int64) int64 { return o / 2 }
		}
		var sub int64
		var lines []map[string]any
		t := sh.tally("mgr.purchase_order_lines")
		for range 1 + r.IntN(5) {
			p := parts[r.IntN(len(parts))]
			ordered := int64(2 + r.IntN(19))
			got := recvd(ordered)
			total := ordered * p.cost
			sub += total
			lines = append(lines, map[string]any{"id": nextLine(), "product": map[string]any{"id": p.id, "name": p.name}, "name": p.name,
				"quantity_ordered": ordered, "quantity_received": fmt.Sprint(got), "cost": cents(p.cost, true), "total": cents(total, true)})
			t.row().qty("quantity_ordered", ordered).qty("quantity_received", got).money("cost", p.cost).money("total", total)
		}
		shipping := int64(0)
		if r.IntN(3) == 0 {
			shipping = 995
		}
		tx := tax(sub, bk.taxRate)
		total := sub + tx + shipping
		id := 7000 + 1000*idx + i
		list := map[string]any{"id": id, "po_number": fmt.Sprintf("PO-%04d", i+1), "supplier": map[string]any{"id": 300 + sup, "name": suppliers[sup]},
			"status": status, "created_date": ts(created), "amount_total": cents(total, true), "last_updated": ts(created.Add(time.Duration(min(age, 10*24*time.Hour) / 2)).Truncate(time.Second))}
		detail := map[string]any{}
		for k, v := range list {
			detail[k] = v
		}
		detail["amount_subtotal"], detail["amount_tax"], detail["amount_shipping"] = cents(sub, true), cents(tx, false), cents(shipping, true)
		detail["expected_date"] = ts(created.Add(7 * 24 * time.Hour))
		if status == "Received" {
			detail["received_date"] = ts(created.Add(5 * 24 * time.Hour))
		} else {
			detail["received_date"] = nil
		}
		// Comparable APIs spell a PO's lines both ways; so do our shops.
		if idx%2 == 0 {
			detail["line_items"] = lines
		} else {
			detail["lines"] = lines
		}
		pos2 = append(pos2, record{id: fmt.Sprint(id), created: created, list: raw(list), detail: raw(detail)})
		sh.tally("mgr.purchase_orders").row().money("amount_subtotal", sub).money("amount_tax", tx).money("amount_shipping", shipping).money("amount_total", total)
	}
	for _, p := range looseNewestFirst(r, pos2) {
		put("purchaseOrders", p)
	}

	// Tickets last: their customer names and invoice summaries are final now.
	for i := range sh.tickets {
		sh.marshalTicket(i)
		sh.tally("mgr.tickets").row()
	}
	sh.tickets2coll()
	sh.closeTallies()
}

type payment struct {
	amount int64
	at     time.Time
}

func sumPays(ps []payment) (n int64) {
	for _, p := range ps {
		n += p.amount
	}
	return n
}

// invoice is a document's money, computed once and rendered twice (list
// and detail shape).
type invoice struct {
	lines           []lineSpec
	customer        customerRef
	created         time.Time
	sub, tax, total int64
}

func invoiceDoc(bk shopBooks, lines []lineSpec, cust customerRef, created time.Time) *invoice {
	inv := &invoice{lines: lines, customer: cust, created: created}
	for _, l := range lines {
		inv.sub += l.total()
	}
	inv.tax = tax(inv.sub, bk.taxRate)
	inv.total = inv.sub + inv.tax
	return inv
}

// render returns the list and the detail shape. The list carries the
// header (amount_total, status, last payment); the detail adds subtotal,
// tax, paid, due, the line items and the payments.
func (inv *invoice) render(r *rand.Rand, bk shopBooks, pays []payment, ts func(time.Time) string, next func() int) (list, detail map[string]any) {
	paid := sumPays(pays)
	status := bk.paid[2]
	switch {
	case paid >= inv.total:
		status = bk.paid[0]
	case paid > 0:
		status = bk.paid[1]
	}
	cust := map[string]any{}
	if inv.customer.ID != "" {
		cust = map[string]any{"id": inv.customer.ID, "name": inv.customer.Name}
	}
	list = map[string]any{"customer": cust, "status": status, "created_date": ts(inv.created), "amount_total": cents(inv.total, true), "last_payment_date": map[string]any{}}
	if len(pays) > 0 {
		list["last_payment_date"] = ts(pays[len(pays)-1].at)
	}
	detail = map[string]any{}
	for k, v := range list {
		detail[k] = v
	}
	detail["amount_subtotal"], detail["amount_tax"] = cents(inv.sub, true), cents(inv.tax, false)
	detail["amount_paid"], detail["amount_due"] = cents(paid, true), cents(inv.total-paid, true)
	detail["currency"], detail["notes"] = bk.currency, "" // not in the docs
	var lines, payments []map[string]any
	for _, l := range inv.lines {
		m := map[string]any{"id": next(), "name": l.name, "quantity": qtyText(l.qty), "price": cents(l.price, true), "total": cents(l.total(), true)}
		if l.product != nil {
			m["product_id"] = l.product.id
		}
		lines = append(lines, m)
	}
	for _, p := range pays {
		m := map[string]any{"id": next(), "amount": cents(p.amount, true), "date": ts(p.at)}
		method := bk.methods[r.IntN(3)]
		if bk.currency == "EUR" {
			m["payment_method"] = map[string]any{"id": 1 + r.IntN(3), "name": method}
		} else {
			m["method"] = method
		}
		payments = append(payments, m)
	}
	detail["line_items"], detail["payments"] = lines, payments
	if payments == nil {
		detail["payments"] = []any{}
	}
	return list, detail
}

func (inv *invoice) count(sh *Shop, header, lines, payments string, pays []payment) {
	paid := sumPays(pays)
	sh.tally(header).row().money("amount_subtotal", inv.sub).money("amount_tax", inv.tax).money("amount_total", inv.total).
		money("amount_paid", paid).money("amount_due", inv.total-paid)
	lt := sh.tally(lines)
	for _, l := range inv.lines {
		lt.row().money("price", l.price).money("total", l.total())
		lt.sums["quantity"] += l.qty * 1000
		lt.scale["quantity"] = 4
	}
	pt := sh.tally(payments)
	for _, p := range pays {
		pt.row().money("amount", p.amount)
	}
}

// looseNewestFirst orders records newest first, but loosely, as the live
// API does: neighbours are often out of order. The order is stable between
// requests.
func looseNewestFirst(r *rand.Rand, recs []record) []record {
	return loosely(r, recs, func(x record) time.Time { return x.created })
}

// loosely sorts items newest first by created, then swaps about one
// neighbour pair in four.
func loosely[T any](r *rand.Rand, items []T, created func(T) time.Time) []T {
	sort.SliceStable(items, func(a, b int) bool { return created(items[a]).After(created(items[b])) })
	for i := 0; i+1 < len(items); i++ {
		if r.IntN(4) == 0 {
			items[i], items[i+1] = items[i+1], items[i]
			i++
		}
	}
	return items
}

// marshalTicket renders ticket i's JSON after a change.
func (s *Shop) marshalTicket(i int) {
	raw, err := json.Marshal(s.tickets[i])
	if err != nil {
		panic(err) // plain structs: cannot fail
	}
	s.tickets[i].raw = raw
	if c := s.colls["tickets"]; c != nil {
		c.items[i].list, c.items[i].detail = raw, raw
	}
}

// tickets2coll exposes the tickets as the "tickets" collection, in the
// same order.
func (s *Shop) tickets2coll() {
	c := &collection{}
	for _, t := range s.tickets {
		c.add(record{id: fmt.Sprint(t.ID), created: t.created, list: t.raw, detail: t.raw})
	}
	s.colls["tickets"] = c
}

// AddPayment takes a payment against a ticket invoice, as the till would
// between two runs: the list record shows the new status and last payment
// date, the detail the payment itself, and the ticket's invoice summary
// follows. Expected is updated.
func (s *Server) AddPayment(shop, invoiceID string, amount int64, at time.Time) error {
	s.data.Lock()
	defer s.data.Unlock()
	sh := s.Shop(shop)
	if sh == nil {
		return fmt.Errorf("mgrtest: no shop %q", shop)
	}
	c := sh.colls["ticketInvoices"]
	i, ok := c.byID[invoiceID]
	if !ok {
		return fmt.Errorf("mgrtest: shop %s has no ticket invoice %s", shop, invoiceID)
	}
	var list, detail map[string]any
	if err := json.Unmarshal(c.items[i].list, &list); err != nil {
		return err
	}
	if err := json.Unmarshal(c.items[i].detail, &detail); err != nil {
		return err
	}
	total, paid := parseCents(detail["amount_total"]), parseCents(detail["amount_paid"])+amount
	bk := books[0]
	if _, eur := detail["currency"].(string); eur && detail["currency"] == "EUR" {
		bk = books[1]
	}
	status := bk.paid[1]
	if paid >= total {
		status = bk.paid[0]
	}
	when := at.In(sh.Zone).Format(mgrTime)
	list["status"], list["last_payment_date"] = status, when
	detail["status"], detail["last_payment_date"] = status, when
	detail["amount_paid"], detail["amount_due"] = units(paid, 2), units(total-paid, 2)
	pays, _ := detail["payments"].([]any)
	detail["payments"] = append(pays, map[string]any{"id": fmt.Sprintf("p-%s-%d", invoiceID, len(pays)+1), "amount": units(amount, 2), "method": bk.methods[0], "date": when})
	lb, _ := json.Marshal(list)
	db, _ := json.Marshal(detail)
	c.items[i].list, c.items[i].detail = lb, db
	sh.tallies["mgr.ticket_invoices"].money("amount_paid", amount).money("amount_due", -amount)
	sh.tallies["mgr.ticket_invoice_payments"].row().money("amount", amount)
	sh.closeTallies()
	// The ticket's invoice summary.
	if tk, ok := list["ticket"].(map[string]any); ok {
		if ti, ok := sh.byID[fmt.Sprint(tk["id"])]; ok {
			summary := map[string]any{}
			json.Unmarshal(sh.tickets[ti].Invoice, &summary)
			summary["last_payment_date"] = when
			sh.tickets[ti].Invoice, _ = json.Marshal(summary)
			sh.marshalTicket(ti)
		}
	}
	return nil
}

// InvoiceIDs lists a shop's ticket invoice ids, newest first (loosely).
func (s *Shop) InvoiceIDs() []string {
	var ids []string
	for _, r := range s.colls["ticketInvoices"].items {
		ids = append(ids, r.id)
	}
	return ids
}

func parseCents(v any) int64 {
	var whole, frac int64
	fmt.Sscanf(fmt.Sprint(v), "%d.%d", &whole, &frac)
	return whole*100 + frac
}

// OpenInvoices lists a shop's ticket invoices with an amount still due.
func (s *Shop) OpenInvoices() []string {
	var ids []string
	for _, r := range s.colls["ticketInvoices"].items {
		var d struct {
			Due string `json:"amount_due"`
		}
		if json.Unmarshal(r.detail, &d) == nil && parseCents(d.Due) > 0 {
			ids = append(ids, r.id)
		}
	}
	return ids
}
