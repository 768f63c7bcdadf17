package repairops

import (
	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/listing"
)

// decode reads an archived RepairOps response through the envelope (a list
// page's data less the records the run dropped as repeats, or a detail's
// record). Both views of a ticket or a customer — the list's summary and
// the detail — are partial: each lacks fields the other has (the detail
// has no shop_id or assigned_to, the list no email or severity), so neither
// may erase the other's columns; the detail replaces the child tables. A
// KPI page's rows take the shop it was asked for when they name none.
func decode(e archive.Entry) (extract.Decoded, error) {
	if e.Resource == WebhookEvents || e.Resource == WebhookPayments {
		return decodeEvents(e.Resource, e.Body)
	}
	r, ok := extract.Find(resourceList, e.Resource)
	if !ok {
		return extract.Decoded{}, nil
	}
	detail := e.Kind == archive.KindDetail
	recs, err := Records(e.Body, detail, e.Dropped)
	if err != nil {
		return extract.Decoded{}, err
	}
	d := extract.Decoded{Table: r.Table, Records: recs}
	if e.Resource == KPIs.Name {
		shop := e.Params.Get("shop_id")
		if shop == "" {
			shop = AllShops
		}
		d.Fixed = map[string]string{"shop_id": shop}
	}
	if r.Detail {
		d.Partial = true
		res, _ := Lookup(e.Resource)
		if detail {
			d.Fetched = listing.SoleID(recs)
		} else {
			d.Listed = Listing(res, recs)
		}
	}
	return d, nil
}
