package repairops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/repairshop/export/extract"
)

// planList: lists in pages of page_size (one page for an incremental
// ticket or customer listing), KPIs one request per month and shop.
func planList(ctx context.Context, a extract.Account, r extract.Resource, size int64, st extract.Stored, now time.Time) (int64, string, bool, error) {
	o := options(a)
	per := int64(orDefault(o.PageSize, MaxPageSize))
	pages := int64(1) // pages after the first read Overlap records again
	if size > per && per > Overlap {
		pages += (size - per + per - Overlap - 1) / (per - Overlap)
	}
	cur := ParseCursor(st.Cursor(r.Name))
	switch r.Name {
	case Tickets.Name:
		every := time.Duration(orDefault(o.TicketFullPassDays, defaultTicketFullDays)) * day
		if cur.Pass == "complete" && !cur.Watermark.IsZero() && now.Sub(cur.LastFull) < every {
			return 1, "incremental: changes since " + cur.Watermark.Format(time.RFC3339) + " less the lookback; full pass due " + cur.LastFull.Add(every).Format(time.RFC3339), false, nil
		}
	case Customers.Name:
		every := time.Duration(orDefault(o.CustomerFullPassDays, defaultCustomerFullDays)) * day
		if cur.Pass == "complete" && now.Sub(cur.LastFull) < every {
			return 1, "new customers only; full pass due " + cur.LastFull.Add(every).Format(time.RFC3339), false, nil
		}
	case KPIs.Name:
		today := now.UTC().Truncate(day)
		first := o.firstKPIDay(today)
		stored := st.Cursors("kpis/")
		shops := int64(len(o.Shops))
		if shops == 0 {
			named, err := st.Values(ctx, TicketsTable, "shop_id")
			if err != nil {
				return 0, "", false, err
			}
			shops = int64(len(named))
		}
		shops = max(shops, 1)
		var n int64
		if len(stored) > 0 {
			// The stored shops resume from their cursors.
			for _, v := range stored {
				n += months(o.kpiFrom(v, first), today)
			}
		} else {
			n = shops * months(first, today)
		}
		return n, fmt.Sprintf("one request per month and shop (%d shop(s))", max(shops, int64(len(stored)))), true, nil
	}
	return pages, "", false, nil
}

// months counts the month-long windows from..to.
func months(from, to time.Time) int64 {
	var n int64
	for ws := from; !ws.After(to); ws = ws.AddDate(0, 1, 0) {
		n++
	}
	return n
}

// Probe asks a list's total with a one-record request; KPIs are not a
// list to size.
func (s *session) Probe(ctx context.Context, r extract.Resource) (lo, hi int64, err error) {
	res, ok := Lookup(r.Name)
	if !ok || res.Unpaged {
		return 0, 0, extract.ErrNoProbe
	}
	total, err := s.c.Probe(ctx, res)
	if err != nil {
		return 0, 0, err
	}
	if total < 0 {
		return 0, 0, errors.New("the API did not say the list's total")
	}
	return int64(total), int64(total), nil
}

// Scopes maps the documented hourly quotas (X-RateLimit-Limit) to the key
// scopes that have them.
var Scopes = map[int]string{DefaultRequestsPerHour: "Read", 100: "Write", 10: "Admin"}

// ErrScope means the key has a scope other than Read: it may read, but an
// export's hours of reading need the Read scope's quota, and a read-only
// export should not hold a key that can write.
var ErrScope = errors.New("the key's scope is not Read")

// Check asks for one ticket: a 401 or 403 says the key will not do, and
// X-RateLimit-Limit says which scope it has.
func (s *session) Check(ctx context.Context) (string, error) {
	if _, err := s.c.Probe(ctx, Tickets); err != nil {
		return "", err
	}
	q := s.c.Quota()
	if !q.Known {
		return "key accepted; the API sent no X-RateLimit-Limit, so its scope is unknown", nil
	}
	scope, documented := Scopes[q.Limit]
	switch {
	case !documented:
		return fmt.Sprintf("key accepted; X-RateLimit-Limit %d an hour (not a documented scope's quota), %d left until %s", q.Limit, q.Remaining, q.Reset.UTC().Format("15:04 MST")), nil
	case scope != "Read":
		return "", fmt.Errorf("%w: X-RateLimit-Limit %d an hour is the %s scope's quota; create a Read key in Settings → API Keys (1,000 requests an hour)", ErrScope, q.Limit, scope)
	}
	return fmt.Sprintf("key accepted; scope Read (X-RateLimit-Limit %d an hour, %d left until %s)", q.Limit, q.Remaining, q.Reset.UTC().Format("15:04 MST")), nil
}
