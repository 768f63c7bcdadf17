package archive

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundTripAndTruncation(t *testing.T) {
	root := t.TempDir()
	w, err := Create(root, "mgr", "north", "20261125T020000Z-aaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.FixedZone("", -6*3600))
	pages := []Entry{
		{Resource: "tickets", Kind: KindList, Params: url.Values{"offset": {"0"}}, FetchedAt: at, Body: []byte(`[{"id":1},{"id":2}]`)},
		{Resource: "tickets", Kind: KindList, Params: url.Values{"offset": {"2"}}, FetchedAt: at, Dropped: []int{0}, Body: []byte(`[{"id":2},{"id":3,"price":259.99}]`)},
		{Resource: "ticketInvoices", Kind: KindDetail, FetchedAt: at, Body: []byte(`{"id":9,"payments":[]}`)},
	}
	for i, p := range pages {
		if seq, err := w.Append(p); err != nil || seq != i+1 {
			t.Fatalf("append %d: seq %d, %v", i, seq, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rel() != filepath.Join("mgr", "north", "20261125T020000Z-aaaaaa.jsonl.zst") || w.Pages() != 3 {
		t.Fatalf("rel %s, pages %d", w.Rel(), w.Pages())
	}
	var got []string
	read := func() error {
		got = nil
		return Read(root, w.Rel(), func(e Entry) error {
			recs, err := e.Records()
			if err != nil {
				return err
			}
			if e.Account != "north" || e.RunID != "20261125T020000Z-aaaaaa" || !e.FetchedAt.Equal(at) || e.FetchedAt.Location() != time.UTC {
				t.Errorf("entry %d meta = %+v", e.Seq, e)
			}
			got = append(got, string(recs))
			return nil
		})
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	want := `[{"id":1},{"id":2}] [{"id":3,"price":259.99}] [{"id":9,"payments":[]}]`
	if strings.Join(got, " ") != want {
		t.Fatalf("records = %s, want %s", strings.Join(got, " "), want)
	}
	// A crash while writing the last page: the whole pages still read.
	path := filepath.Join(root, w.Rel())
	info, _ := os.Stat(path)
	if err := os.Truncate(path, info.Size()-5); err != nil {
		t.Fatal(err)
	}
	if err := read(); !errors.Is(err, ErrTruncated) || len(got) != 2 {
		t.Fatalf("truncated file: %d pages, %v; want 2 and ErrTruncated", len(got), err)
	}
}

func TestListOrdersByRun(t *testing.T) {
	root := t.TempDir()
	for _, f := range []struct{ src, acct, run string }{
		{"mgr", "south", "20261126T020000Z-bbbbbb"},
		{"mgr", "north", "20261126T020000Z-bbbbbb"},
		{"mgr", "north", "20261125T020000Z-aaaaaa"},
	} {
		w, err := Create(root, f.src, f.acct, f.run)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	os.WriteFile(filepath.Join(root, "mgr", "north", "notes.txt"), []byte("x"), 0o644)
	files, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Account+"@"+f.RunID[:8])
	}
	if strings.Join(got, " ") != "north@20261125 north@20261126 south@20261126" {
		t.Fatalf("order = %v", got)
	}
	if files, err := List(filepath.Join(root, "missing")); err != nil || len(files) != 0 {
		t.Fatalf("missing root: %v, %v", files, err)
	}
	if _, err := Create(root, "mgr", "north", "20261125T020000Z-aaaaaa"); err == nil {
		t.Fatal("Create overwrote an existing archive file")
	}
}

// An export writes one archive file per account at once; what compresses
// their pages must not grow with the accounts. An encoder per file held
// 1.3 MB each: 100 accounts pinned 130 MB, beside a 128 MiB heap limit.
func TestManyOpenWritersShareTheirCompressor(t *testing.T) {
	root := t.TempDir()
	const accounts = 100
	body := []byte(`[` + strings.Repeat(`{"id":1,"note":"screen replaced, battery tested"},`, 400) + `{"id":2}]`)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	writers := make([]*Writer, accounts)
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for i := range writers {
		w, err := Create(root, "mgr", fmt.Sprintf("shop%03d", i), "20261206T020000Z-aaaaaa")
		if err != nil {
			t.Fatal(err)
		}
		writers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if _, err := w.Append(Entry{Resource: "tickets", Kind: KindList, Body: body}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	held := heap() - before
	for _, w := range writers {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if held > 16<<20 {
		t.Errorf("%d open writers hold %d MB of heap, want under 16 MB", accounts, held>>20)
	}
	// And every page reads back whole.
	for _, w := range writers {
		n := 0
		if err := Read(root, w.Rel(), func(e Entry) error {
			if string(e.Body) != string(body) {
				return fmt.Errorf("page %d differs", e.Seq)
			}
			n++
			return nil
		}); err != nil || n != 3 {
			t.Fatalf("%s: %d pages, %v", w.Rel(), n, err)
		}
	}
}

// A checkpoint syncs every account's writer before it commits; only those
// with a page since their last sync reach the disk.
func TestSyncFlushesOnlyWhatIsNew(t *testing.T) {
	w, err := Create(t.TempDir(), "mgr", "north", "20261206T020000Z-aaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	fsyncs := 0
	w.fsync = func(f *os.File) error { fsyncs++; return f.Sync() }
	steps := []struct {
		appends, want int
	}{
		{0, 1}, // a new, empty file: synced once
		{0, 1},
		{2, 2},
		{0, 2},
		{0, 2},
		{1, 3},
	}
	for i, s := range steps {
		for range s.appends {
			if _, err := w.Append(Entry{Resource: "tickets", Kind: KindList, Body: []byte(`[]`)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		if fsyncs != s.want {
			t.Fatalf("step %d (%d new pages): %d fsyncs in all, want %d", i, s.appends, fsyncs, s.want)
		}
	}
	if err := w.Close(); err != nil || fsyncs != 3 {
		t.Fatalf("close: %v, %d fsyncs in all, want 3 (nothing new)", err, fsyncs)
	}
}

// A list page's records after its repeats are dropped are the records as
// the API wrote them: not re-encoded (spacing kept, < and & not escaped).
func TestRecordsKeepWhatIsKeptAsWritten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		dropped []int
		want    string
	}{
		{"none dropped", `[ {"id": 1} ]`, nil, `[ {"id": 1} ]`},
		{"the middle one", "[ {\"id\": 1, \"note\": \"a < b & c\"} ,{\"id\":2},\n {\"id\" :3} ]", []int{1}, `[{"id": 1, "note": "a < b & c"},{"id" :3}]`},
		{"all", `[{"id":1},{"id":2}]`, []int{0, 1}, `[]`},
	} {
		got, err := Entry{Kind: KindList, Resource: "tickets", Body: []byte(tc.body), Dropped: tc.dropped}.Records()
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.name, got, err, tc.want)
		}
	}
}
