package load

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/transform"
)

// Staged pages are joined as they come (compact), in runs of
// compactPages: a record staged twice in one checkpoint must still load
// as its last page has it, wherever the joins fall, and no row is lost.
func TestManySmallPagesLoadAsTheLastPageHasThem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages int // one job each; job 1 is staged first and again last
	}{
		{"fewer pages than one join", compactPages - 2},
		{"the last page completes a join", compactPages - 1},
		{"the last page starts a new join", compactPages},
		{"many joins", 5*compactPages + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, _ := openTemp(t)
			var pages, want []string
			pages = append(pages, "["+jobJSON(1, "2026-03-01T10:00:00Z", "open")+"]")
			want = append(want, "1|closed")
			for id := 2; id < tc.pages; id++ {
				pages = append(pages, "["+jobJSON(id, "2026-03-01T10:00:00Z", fmt.Sprintf("s%d", id))+"]")
				want = append(want, fmt.Sprintf("%d|s%d", id, id))
			}
			pages = append(pages, "["+jobJSON(1, "2026-03-01T10:00:00Z", "closed")+"]")
			loadRun(t, w, "r1", pages...)
			got := one(t, w, `SELECT string_agg(concat_ws('|', id, status), ';' ORDER BY id::INT) FROM tiny.jobs`)
			if got != strings.Join(want, ";") {
				t.Errorf("jobs loaded:\n%s\nwant\n%s", got, strings.Join(want, ";"))
			}
			if got := one(t, w, `SELECT count(*) FROM tiny.jobs_history WHERE id = '1'`); got != "1" {
				t.Errorf("job 1 has %s versions, want 1 (both pages came in one run)", got)
			}
		})
	}
}

// A checkpoint of detail pages (one record each, with its child tables)
// holds what the rows' values need, not a transformed page's buffers: each
// of those has room for 32 rows in every column, about 70 KB for a
// RepairOps ticket and its children. A busy run stages thousands of such
// pages between checkpoints. Not parallel: it reads the Go heap.
func TestStagedDetailPagesHoldTheirValuesNotTheirBuffers(t *testing.T) {
	w, _ := openTemp(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, "r1", KindExport, at); err != nil {
		t.Fatal(err)
	}
	const pages, perPage = 2000, 8 * 1024
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for n := range pages {
		b, err := transform.Page(repairops.TicketsTable, []byte(fmt.Sprintf(roTicket, n)), transform.Meta{Account: "north", RunID: "r1", ExtractedAt: at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Stage(ctx, "north", b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if held := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / pages; held > perPage {
		t.Errorf("each staged page holds %d bytes of Go heap, want at most %d", held, perPage)
	}
	if err := w.Checkpoint(ctx, "r1", at); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{"repairops.tickets": pages, "repairops.ticket_timeline": 4 * pages, "repairops.ticket_parts": 2 * pages} {
		if got := one(t, w, `SELECT count(*) FROM `+table); got != fmt.Sprint(want) {
			t.Errorf("%s: %s rows, want %d", table, got, want)
		}
	}
}

// roTicket is a RepairOps ticket's detail, a ticket and its timeline,
// parts and diagnostics (here and in BenchmarkDetailPages); %[1]d is its
// number.
const roTicket = `[{"id":"t-%[1]d","number":"T%[1]06d","status":"CLOSED","customer":{"id":"c-1","name":"John Doe"},"device":{"identifier":"iPhone 14 Pro","category":"smartphone"},
	"issue":{"description":"Cracked screen","severity":"high"},"timeline":[{"status":"INTAKE","timestamp":"2026-02-15T10:30:00Z","actor":"Desk"},{"status":"DIAGNOSTICS","timestamp":"2026-02-15T11:00:00Z","actor":"Alice"},
	{"status":"IN_REPAIR","timestamp":"2026-02-16T09:00:00Z","actor":"Alice"},{"status":"CLOSED","timestamp":"2026-02-17T09:00:00Z","actor":"Alice"}],
	"diagnostics":{"findings":"Screen damaged","estimated_cost":259.99,"recommended_parts":["Screen"]},"labor":{"hours":1.5,"rate":65.00,"total":97.50},
	"parts":[{"name":"Screen","quantity":1,"unit_cost":80.00,"total":80.00},{"name":"Digitizer","quantity":1,"unit_cost":80.00,"total":80.00}],
	"total_cost":257.50,"created_at":"2026-02-15T10:30:00Z","updated_at":"2026-02-17T09:00:00Z"}]`
