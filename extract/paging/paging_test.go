package paging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repairshop/export/extract"
)

// list is an API's list endpoint in memory: records "1".."n" in order,
// paged by offset; before each request, change may alter it (the nth
// request, counting from 1), as records come and go while a client pages.
type list struct {
	ids      []string
	size     int
	requests int
	change   func(l *list, request int)
	// ignoreOffset serves the first page whatever the offset.
	ignoreOffset bool
	// twice serves this request's page again in place of the next one.
	twice int
	last  []json.RawMessage
}

func newList(n, size int) *list {
	l := &list{size: size}
	for i := 1; i <= n; i++ {
		l.ids = append(l.ids, fmt.Sprint(i))
	}
	return l
}

func (l *list) fetch(_ context.Context, offset int) (Answer, error) {
	l.requests++
	if l.change != nil {
		l.change(l, l.requests)
	}
	if l.ignoreOffset {
		offset = 0
	}
	var items []json.RawMessage
	if l.twice > 0 && l.requests == l.twice+1 {
		items = l.last
	} else {
		for _, id := range l.ids[min(offset, len(l.ids)):min(offset+l.size, len(l.ids))] {
			if strings.HasPrefix(id, "nameless") {
				items = append(items, json.RawMessage(`{"name":"`+id+`"}`))
				continue
			}
			items = append(items, json.RawMessage(`{"id":"`+id+`"}`))
		}
	}
	l.last = items
	return Answer{Items: items, Total: len(l.ids), Next: offset + len(items), More: len(items) == l.size}, nil
}

// remove deletes the record with the given id.
func (l *list) remove(id string) {
	l.ids = slices.DeleteFunc(l.ids, func(s string) bool { return s == id })
}

// run lists l through a Walk and returns every record passed on, by id
// (or name), in order.
func run(t *testing.T, l *list, w Walk) ([]string, error) {
	t.Helper()
	w.API, w.Resource, w.PageSize, w.Fetch = "test", "things", l.size, l.fetch
	var got []string
	err := w.Run(context.Background(), func(p extract.Page) error {
		var recs []map[string]string
		if err := json.Unmarshal(p.Records, &recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, r["id"]+r["name"])
		}
		return nil
	})
	return got, err
}

func ids(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

func TestAQuietListIsReadOnceInOrder(t *testing.T) {
	l := newList(23, 10)
	got, err := run(t, l, Walk{})
	if err != nil || !slices.Equal(got, ids(1, 23)) {
		t.Fatalf("got %v, %v", got, err)
	}
	if l.requests != 3 {
		t.Errorf("%d requests for 23 records in pages of 10 with an overlap of 2, want 3", l.requests)
	}
}

func TestARecordDeletedBehindTheClientIsNotSteppedOver(t *testing.T) {
	l := newList(30, 10)
	l.change = func(l *list, n int) {
		if n == 2 {
			l.remove("3") // everything after it moves one place to the head
		}
	}
	got, err := run(t, l, Walk{})
	slices.SortFunc(got, func(a, b string) int { return len(a)*100 - len(b)*100 + strings.Compare(a, b) })
	if err != nil || !slices.Equal(got, ids(1, 30)) {
		t.Fatalf("got %v, %v; want every record once (3 was read before it went; 11, moved onto the first page, by the overlap)", got, err)
	}
}

func TestMoreMovedThanTheOverlapStepsBackAPage(t *testing.T) {
	l := newList(40, 10)
	l.change = func(l *list, n int) {
		if n == 2 {
			for _, id := range []string{"1", "2", "4", "5", "6"} {
				l.remove(id) // five places: more than the overlap of 2
			}
		}
	}
	got, err := run(t, l, Walk{})
	slices.SortFunc(got, func(a, b string) int { return len(a)*100 - len(b)*100 + strings.Compare(a, b) })
	if err != nil || !slices.Equal(got, ids(1, 40)) {
		t.Fatalf("got %v, %v, want all 40 once (the ones deleted read before they went)", got, err)
	}
}

func TestRecordsInsertedAheadArePassedOnOnce(t *testing.T) {
	l := newList(25, 10)
	l.change = func(l *list, n int) {
		if n == 2 {
			l.ids = append([]string{"new1", "new2", "new3"}, l.ids...) // pushes what was read back towards the tail
		}
	}
	got, err := run(t, l, Walk{})
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, id := range ids(1, 25) {
		if seen[id] != 1 {
			t.Errorf("record %s passed on %d times", id, seen[id])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestAPageServedTwiceIsAskedForAgain(t *testing.T) {
	l := newList(30, 10)
	l.twice = 1 // the second request gets the first page again
	got, err := run(t, l, Walk{})
	if err != nil || !slices.Equal(got, ids(1, 30)) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestAServerThatIgnoresOffsetIsAnError(t *testing.T) {
	l := newList(30, 10)
	l.ignoreOffset = true
	_, err := run(t, l, Walk{})
	if err == nil || !strings.Contains(err.Error(), "3 pages brought no new records; the server is not paging by offset") {
		t.Fatalf("err = %v", err)
	}
	if l.requests != 4 {
		t.Errorf("%d requests, want 4 (the first page, then 3 that brought nothing)", l.requests)
	}
}

func TestAShortListServedWholeIsComplete(t *testing.T) {
	l := newList(10, 10) // exactly one full page, served whatever the offset
	l.ignoreOffset = true
	got, err := run(t, l, Walk{WholeWhenRepeated: true})
	if err != nil || !slices.Equal(got, ids(1, 10)) || l.requests != 2 {
		t.Fatalf("got %v, %v after %d requests", got, err, l.requests)
	}
}

func TestRecordsWithoutAnIDArePassedOnAndTurnTheOverlapOff(t *testing.T) {
	l := newList(20, 10)
	l.ids[4] = "nameless-a"
	got, err := run(t, l, Walk{})
	if err != nil || len(got) != 20 || !slices.Contains(got, "nameless-a") {
		t.Fatalf("got %v, %v", got, err)
	}
	// the page with a nameless record is not overlapped: it would come twice
	if n := strings.Count(strings.Join(got, ","), "nameless-a"); n != 1 {
		t.Errorf("the nameless record came %d times", n)
	}
}

func TestStopEndsTheListingWithoutError(t *testing.T) {
	l := newList(50, 10)
	w := Walk{API: "test", Resource: "things", PageSize: 10, Fetch: l.fetch}
	err := w.Run(context.Background(), func(extract.Page) error { return Stop })
	if err != nil || l.requests != 1 {
		t.Fatalf("err %v after %d requests", err, l.requests)
	}
}

func TestDroppedRepeatsAreRecordedForTheArchive(t *testing.T) {
	l := newList(15, 10)
	w := Walk{API: "test", Resource: "things", PageSize: 10, Fetch: l.fetch}
	var pages []extract.Page
	if err := w.Run(context.Background(), func(p extract.Page) error { pages = append(pages, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(pages) != 2 || !slices.Equal(pages[1].Dropped, []int{0, 1}) || pages[1].Dupes != 0 || pages[1].Count != 5 {
		t.Fatalf("second page: dropped %v, dupes %d, count %d; want the 2 overlapped records dropped, not counted as repeats", pages[1].Dropped, pages[1].Dupes, pages[1].Count)
	}
}

func TestFreshDropsRepeatsByIDAndKeepsRecordsWithout(t *testing.T) {
	seen := map[string]struct{}{"1": {}}
	var raw []json.RawMessage
	for _, it := range []string{`{"id":1}`, `{"id":"2"}`, `{"x":0}`, `{"id":2}`} {
		raw = append(raw, json.RawMessage(it))
	}
	fresh, dropped, nameless := Fresh(seen, raw)
	if len(fresh) != 2 || fmt.Sprint(dropped) != "[0 3]" || nameless != 1 {
		t.Errorf("fresh %s, dropped %v, nameless %d", fresh, dropped, nameless)
	}
}

// Asking for the next page ahead changes nothing the listing passes on
// or asks for: the same records, the same error, the same requests, in
// each of the guards' cases.
func TestAheadListsWhatTheLoopWouldHaveListed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		list  func() *list
		whole bool
	}{
		{"a quiet list", func() *list { return newList(23, 10) }, false},
		{"a full last page", func() *list { return newList(30, 10) }, false},
		{"a record deleted behind", func() *list {
			l := newList(30, 10)
			l.change = func(l *list, n int) {
				if n == 2 {
					l.remove("3")
				}
			}
			return l
		}, false},
		{"more moved than the overlap", func() *list {
			l := newList(40, 10)
			l.change = func(l *list, n int) {
				if n == 2 {
					for _, id := range []string{"1", "2", "4", "5", "6"} {
						l.remove(id)
					}
				}
			}
			return l
		}, false},
		{"records inserted ahead", func() *list {
			l := newList(25, 10)
			l.change = func(l *list, n int) {
				if n == 2 {
					l.ids = append([]string{"new1", "new2", "new3"}, l.ids...)
				}
			}
			return l
		}, false},
		{"a page served twice", func() *list { l := newList(30, 10); l.twice = 1; return l }, false},
		{"a server that ignores offset", func() *list { l := newList(30, 10); l.ignoreOffset = true; return l }, false},
		{"a short list served whole", func() *list { l := newList(10, 10); l.ignoreOffset = true; return l }, true},
		{"records without an id", func() *list { l := newList(20, 10); l.ids[4] = "nameless-a"; return l }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var outcome [2]string
			for i, ahead := range []bool{false, true} {
				l := tc.list()
				got, err := run(t, l, Walk{Ahead: ahead, WholeWhenRepeated: tc.whole})
				outcome[i] = fmt.Sprintf("records %v, error %v, %d requests", got, err, l.requests)
			}
			if outcome[0] != outcome[1] {
				t.Errorf("page by page: %s\nahead:        %s", outcome[0], outcome[1])
			}
		})
	}
}

// With Ahead, the next page is on its way while the callback still holds
// this one.
func TestAheadAsksForTheNextPageWhileTheCallbackWorks(t *testing.T) {
	l := newList(30, 10)
	asked := make(chan int, 10)
	w := Walk{API: "test", Resource: "things", PageSize: 10, Ahead: true, Fetch: func(ctx context.Context, offset int) (Answer, error) {
		asked <- offset
		return l.fetch(ctx, offset)
	}}
	pages := 0
	err := w.Run(context.Background(), func(p extract.Page) error {
		if pages++; p.Last {
			return nil
		}
		<-asked // this page's own request
		select {
		case off := <-asked:
			asked <- off // leave it for the next page's turn
		case <-time.After(10 * time.Second):
			return fmt.Errorf("page %d: the next page was not asked for while the callback held this one", pages)
		}
		return nil
	})
	if err != nil || pages != 4 {
		t.Fatalf("%v after %d pages", err, pages)
	}
}

// A callback that fails ends the listing with its error, and the page
// asked for ahead is cancelled and waited for: no request outlives Run.
func TestAFailingCallbackCancelsThePageAskedForAhead(t *testing.T) {
	l := newList(30, 10)
	var inFlight atomic.Int32
	started := make(chan struct{}, 1)
	w := Walk{API: "test", Resource: "things", PageSize: 10, Ahead: true, Fetch: func(ctx context.Context, offset int) (Answer, error) {
		if offset == 0 {
			return l.fetch(ctx, offset)
		}
		inFlight.Add(1)
		defer inFlight.Add(-1)
		started <- struct{}{}
		<-ctx.Done() // a slow server: only the cancel ends it
		return Answer{}, ctx.Err()
	}}
	failed := errors.New("the loader failed")
	err := w.Run(context.Background(), func(extract.Page) error {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Error("the next page was not asked for ahead")
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("err = %v, want the callback's", err)
	}
	if n := inFlight.Load(); n != 0 {
		t.Errorf("%d requests still running after Run returned", n)
	}
}
