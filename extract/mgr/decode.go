package mgr

import (
	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/listing"
)

// decode reads an archived MGR response (a list page's bare array less the
// records the run dropped as repeats, or a detail's object). A list page
// of a resource with a detail is partial — it must not erase the detail's
// columns — and its records go to the detail queue; a detail replaces the
// row whole.
func decode(e archive.Entry) (extract.Decoded, error) {
	r, ok := extract.Find(resourceList, e.Resource)
	if !ok {
		return extract.Decoded{}, nil
	}
	recs, err := e.Records()
	if err != nil {
		return extract.Decoded{}, err
	}
	d := extract.Decoded{Table: r.Table, Records: recs, Fixed: r.Fixed}
	res, _ := Lookup(e.Resource)
	switch {
	case res.Detail && e.Kind == archive.KindList:
		d.Partial = true
		d.Listed = Listing(res, recs)
	case res.Detail && e.Kind == archive.KindDetail:
		d.Fetched = listing.SoleID(recs)
	}
	return d, nil
}
