package mgr

import (
	"context"
	"fmt"
	"time"

	"github.com/repairshop/export/extract"
)

// ListRequests is the list requests for n records: pages overlap by
// Overlap records and a short page ends a listing.
func ListRequests(n int64) int64 {
	pages := int64(1)
	for off := int64(0); n-off >= PageSize; off += PageSize - Overlap {
		pages++
	}
	return pages
}

// planList: every run lists every resource in full; an unfinished listing
// resumes where it stopped, then the next one starts over.
func planList(_ context.Context, _ extract.Account, r extract.Resource, size int64, st extract.Stored, _ time.Time) (int64, string, bool, error) {
	note := ""
	if off := ResumeOffset(st.Cursor(r.Name)); off > 0 {
		note = fmt.Sprintf("listing resumes at offset %d", off)
	}
	return ListRequests(size), note, false, nil
}

// maxProbes bounds the probes of one list: offsets double from 50 up to
// 50·2^(maxProbes-1) (25,600 with 10), then halve the last gap once.
const maxProbes = 10

// Probe bounds a list's length with one-record probes: lo ≤ n < hi
// (hi = lo when exact is not needed: a short first page gives n).
func (s *session) Probe(ctx context.Context, r extract.Resource) (lo, hi int64, err error) {
	res, ok := Lookup(r.Name)
	if !ok {
		return 0, 0, extract.ErrNoProbe
	}
	lo, hi = 0, -1
	for off, probes := int64(PageSize), 0; probes < maxProbes; off *= 2 {
		probes++
		more, err := s.c.Probe(ctx, res, int(off))
		if err != nil {
			return 0, 0, err
		}
		if !more {
			hi = off
			break
		}
		lo = off + 1
	}
	if hi < 0 {
		return lo, lo, nil // at least lo: beyond what probes reach
	}
	if lo > 0 && hi-lo > PageSize {
		mid := (lo + hi) / 2
		more, err := s.c.Probe(ctx, res, int(mid))
		if err != nil {
			return 0, 0, err
		}
		if more {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, hi, nil
}

// Check asks for one status (the smallest list): a key MGR accepts is
// ready; MGR keys have no scopes, and its limit (30 a minute) is the same
// for all.
func (s *session) Check(ctx context.Context) (string, error) {
	if _, err := s.c.Probe(ctx, Statuses, 0); err != nil {
		return "", err
	}
	pace := float64(time.Minute) / float64(s.c.http.Bucket().Interval())
	if pace > DefaultRequestsPerMinute {
		return fmt.Sprintf("key accepted; paced at %.0f requests/min, above MGR's documented 30 (%s is set: only for a server that allows it)", pace, extract.OverrideKey), nil
	}
	return fmt.Sprintf("key accepted; paced at %.0f requests/min (MGR allows 30)", pace), nil
}
