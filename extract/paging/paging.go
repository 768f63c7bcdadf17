// Package paging is the one offset-paging loop every source's client
// lists through. Real list endpoints order loosely and change while a
// client pages: records are inserted ahead of it and deleted behind it,
// neighbours trade places across a page boundary, a cache serves a page
// twice. The loop guards against each, the same way for every API:
//
//   - overlap: each page after the first starts Overlap records early, so
//     a record that moved back across the boundary is read, not stepped
//     over (a listing that missed it would take it for deleted);
//   - step back: a page that starts with a record not seen means more
//     moved than the overlap covers: go back a page (MaxStepBacks times);
//   - dedupe: records are passed on once per listing, by id (records
//     without an id are passed on, for transform to quarantine, and turn
//     the overlap off for their page: they could not be told apart);
//   - stale pages: a page of records already seen is asked for once more
//     (a cache may have served an earlier page), and MaxEmptyPages of them
//     in a row end the listing with an error: the server is not paging.
//
// What differs between APIs (how a page is asked for and read, the page
// size, what a repeated short list means) is the Walk's.
package paging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/listing"
)

// Answer is one list page as the API gave it.
type Answer struct {
	Params url.Values // the query sent (never the key)
	Body   []byte     // exactly as received, for the raw archive
	Items  []json.RawMessage
	Total  int  // the listing's size as the API reported it; -1: not said
	Next   int  // the offset after this page (without the overlap)
	More   bool // false on the last page
}

// Stop, returned by a Walk's callback, ends the listing without error.
var Stop = errors.New("paging: stop listing")

// Walk is one listing by offset.
type Walk struct {
	API, Resource string // for messages: the source's name, the resource
	// Start is the offset the listing starts at (a resumed listing starts
	// a page before where it stopped).
	Start    int
	PageSize int
	// Overlap, MaxStepBacks and MaxEmptyPages bound the guards (see the
	// package doc); zero values take the defaults.
	Overlap, MaxStepBacks, MaxEmptyPages int
	// WholeWhenRepeated takes a page of records already seen, when the
	// first page was not full, as the whole list served again: an API
	// that ignores offset on its short lookup lists.
	WholeWhenRepeated bool
	// Fetch asks for the page at offset.
	Fetch func(ctx context.Context, offset int) (Answer, error)
	// Ahead asks for the next page while fn takes this one (Fetch then
	// runs in another goroutine, one call at a time): the request's wait
	// and the callback's work overlap. Only for a listing whose callback
	// never returns Stop: a page asked for ahead of a stop is a request
	// spent for nothing.
	Ahead bool
	Log   *slog.Logger
	Now   func() time.Time
}

// Defaults of the guards.
const (
	DefaultOverlap       = 2
	DefaultMaxStepBacks  = 3
	DefaultMaxEmptyPages = 3
)

// Run pages through the listing, calling fn with each page's records not
// seen before in it.
func (w Walk) Run(ctx context.Context, fn func(extract.Page) error) error {
	overlap := or(w.Overlap, DefaultOverlap)
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := w.Now
	if now == nil {
		now = time.Now
	}
	seen := map[string]struct{}{}
	stale, total, anon, stepBacks := 0, -1, 0, 0
	overlapped := false // this page starts Overlap records early
	ahead := prefetcher{fetch: w.Fetch}
	defer ahead.wait()
	for offset := max(w.Start, 0); ; {
		a, err := ahead.get(ctx, offset)
		if err != nil {
			return fmt.Errorf("%s: list %s at offset %d: %w", w.API, w.Resource, offset, err)
		}
		if total < 0 {
			total = a.Total
		}
		if overlapped && stepBacks < or(w.MaxStepBacks, DefaultMaxStepBacks) && startsUnseen(seen, a.Items) {
			stepBacks++
			back := max(offset-w.PageSize+overlap, 0)
			log.Warn(w.API+": the listing shifted by more than the page overlap; stepping back a page", "resource", w.Resource, "offset", offset, "back_to", back)
			offset, overlapped = back, back > 0
			continue
		}
		page := extract.Page{Resource: w.Resource, Params: a.Params, Body: a.Body, FetchedAt: now(), Total: a.Total, Next: a.Next, Last: !a.More}
		fresh, dropped, nameless := Fresh(seen, a.Items)
		page.Dropped = dropped
		for _, i := range dropped {
			if i >= overlap || offset == w.Start {
				page.Dupes++ // a repeat beyond the overlap asked for
			}
		}
		anon += nameless
		page.Count = len(fresh)
		page.Records = listing.JoinArray(fresh)
		// A page of records already seen, the first time: a cache may have
		// served an earlier page again. Ask for the same offset once more
		// rather than step over the records it should have held.
		again := len(fresh) == 0 && !page.Last && !w.WholeWhenRepeated && stale == 0 && offset > 0
		if again {
			page.Next = offset
		}
		if w.Ahead && !page.Last && len(fresh) > 0 {
			// The next page is asked for while fn takes this one: where
			// it starts is known from this page alone (see below).
			next := a.Next
			if next-offset > overlap && nameless == 0 {
				next -= overlap
			}
			ahead.start(ctx, next)
		}
		if err := fn(page); err != nil {
			if errors.Is(err, Stop) {
				return nil
			}
			return err
		}
		if page.Last {
			if w.Start == 0 && total >= 0 && len(seen)+anon != total {
				log.Warn(w.API+": the listing's distinct records differ from the total the API reported (records changed while paging; the next run catches up)",
					"resource", w.Resource, "seen", len(seen)+anon, "total", total)
			}
			return nil
		}
		if len(fresh) == 0 {
			if w.WholeWhenRepeated {
				log.Warn(w.API+": the list repeats itself instead of paging; taking it as complete", "resource", w.Resource, "offset", offset)
				return nil
			}
			if stale++; stale >= or(w.MaxEmptyPages, DefaultMaxEmptyPages) {
				return fmt.Errorf("%s: list %s at offset %d: %d pages brought no new records; the server is not paging by offset", w.API, w.Resource, offset, stale)
			}
			if again {
				log.Warn(w.API+": a page brought only records already seen; asking for it again", "resource", w.Resource, "offset", offset)
				continue
			}
		} else {
			stale = 0
		}
		next := a.Next
		overlapped = next-offset > overlap && nameless == 0 // records without an id could not be told apart
		if overlapped {
			next -= overlap
		}
		offset = next
	}
}

func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// startsUnseen reports whether a page after the first starts with a record
// the listing has not seen: the list moved by more than the overlap.
func startsUnseen(seen map[string]struct{}, items []json.RawMessage) bool {
	if len(seen) == 0 || len(items) == 0 {
		return false
	}
	k, ok := listing.RecordID(items[0])
	if !ok {
		return false
	}
	_, dup := seen[k]
	return !dup
}

// Fresh keeps the records of a page not seen earlier in the listing (by
// id; records without one are kept and counted as nameless), noting them
// as seen, and returns the positions it dropped.
func Fresh(seen map[string]struct{}, items []json.RawMessage) (fresh []json.RawMessage, dropped []int, nameless int) {
	fresh = make([]json.RawMessage, 0, len(items))
	for i, it := range items {
		if k, ok := listing.RecordID(it); ok {
			if _, dup := seen[k]; dup {
				dropped = append(dropped, i)
				continue
			}
			seen[k] = struct{}{}
		} else {
			nameless++
		}
		fresh = append(fresh, it)
	}
	return fresh, dropped, nameless
}

// prefetcher holds the one page asked for ahead of the loop (Walk.Ahead):
// while the callback takes a page, the next is on its way. It is started
// only when the page just read says that there is a next one and where it
// starts, so it is the request the loop makes next: no request is made
// that the loop would not have made, unless the callback fails (the
// request is then cancelled, and may have reached the API).
type prefetcher struct {
	fetch  func(ctx context.Context, offset int) (Answer, error)
	offset int
	done   chan struct{}
	cancel context.CancelFunc
	a      Answer
	err    error
}

func (p *prefetcher) start(ctx context.Context, offset int) {
	p.wait()
	ctx, p.cancel = context.WithCancel(ctx)
	p.offset, p.done = offset, make(chan struct{})
	go func() {
		defer close(p.done)
		p.a, p.err = p.fetch(ctx, offset)
	}()
}

// get is the page at offset: the one fetched ahead, or asked for now.
func (p *prefetcher) get(ctx context.Context, offset int) (Answer, error) {
	if p.done != nil && p.offset == offset {
		<-p.done
		p.done, p.cancel = nil, nil
		return p.a, p.err
	}
	p.wait()
	return p.fetch(ctx, offset)
}

// wait drops a page fetched ahead (and stops its request).
func (p *prefetcher) wait() {
	if p.done != nil {
		p.cancel()
		<-p.done
		p.done, p.cancel = nil, nil
	}
}
