// Package archive keeps every API response body a run used, compressed,
// with the request that produced it (source, account, resource, query
// parameters — never the key), when it was fetched and by which run. Months
// of rate-limited API requests are expensive to repeat; with the archive,
// `repairshop-export rebuild` re-transforms the past with new declarations without
// spending any of them.
//
// One file per run and account: <root>/<source>/<account>/<run id>.jsonl.zst.
// Each page is one JSON line compressed as its own zstd frame and appended,
// so a file cut short by a crash still reads up to its last whole page.
//
// The package does file I/O only; it knows nothing of the warehouse.
package archive

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/klauspost/compress/zstd"

	"github.com/repairshop/export/extract/listing"
)

// Ext is the archive files' extension.
const Ext = ".jsonl.zst"

// Page kinds.
const (
	KindList   = "list"   // Body is a JSON array of records
	KindDetail = "detail" // Body is one JSON object
	// KindGone: the record's detail answered 404; Body is {"id": …}.
	KindGone = "gone"
	// KindEvents: a batch of webhook events from the account's event log
	// (repairshop-export listen), Body the JSON array of its lines.
	KindEvents = "events"
)

// Gone is the archived page of a record whose detail answered 404.
func Gone(resource, id, fingerprint string, at time.Time) Entry {
	body, _ := json.Marshal(map[string]string{"id": id})
	return Entry{Resource: resource, Kind: KindGone, FetchedAt: at, Fingerprint: fingerprint, Body: body}
}

// GoneID is the id a KindGone page names.
func (e Entry) GoneID() string {
	var v struct {
		ID string `json:"id"`
	}
	json.Unmarshal(e.Body, &v)
	return v.ID
}

// Entry is one archived response.
type Entry struct {
	Seq       int        `json:"seq"` // 1-based position in its file
	Source    string     `json:"source"`
	Account   string     `json:"account"`
	RunID     string     `json:"run_id"`
	Resource  string     `json:"resource"`
	Kind      string     `json:"kind"`
	Params    url.Values `json:"params,omitempty"`
	FetchedAt time.Time  `json:"fetched_at"`
	// Dropped are positions in Body's array the run left out (records
	// already seen earlier in the same listing).
	Dropped []int `json:"dropped,omitempty"`
	// Fingerprint, on a detail response, is the list fingerprint the
	// detail was fetched for (see the detail queue in load).
	Fingerprint string `json:"fingerprint,omitempty"`
	// Complete, on a list page, says it is the last page of a listing
	// that returned every record of the resource for the account (from
	// the first page, without a filter): what the run did not see of it
	// is gone from the source.
	Complete bool            `json:"complete,omitempty"`
	Body     json.RawMessage `json:"body"`
}

// Records returns the JSON array of records the run used from this
// response: a list body without the dropped positions, or a detail body
// wrapped in an array.
func (e Entry) Records() (json.RawMessage, error) {
	if e.Kind == KindGone {
		return json.RawMessage("[]"), nil
	}
	if e.Kind == KindDetail {
		if !json.Valid(e.Body) {
			return nil, fmt.Errorf("archived %s detail %d: the body is not JSON", e.Resource, e.Seq)
		}
		return append(append(json.RawMessage{'['}, e.Body...), ']'), nil
	}
	if len(e.Dropped) == 0 {
		return e.Body, nil
	}
	items, err := listing.SplitArray(e.Body)
	if err != nil {
		return nil, fmt.Errorf("archived %s page %d: %w", e.Resource, e.Seq, err)
	}
	drop := map[int]bool{}
	for _, i := range e.Dropped {
		drop[i] = true
	}
	kept := items[:0]
	for i, it := range items {
		if !drop[i] {
			kept = append(kept, it)
		}
	}
	return listing.JoinArray(kept), nil
}

// encoder is the zstd encoder every Writer shares. Each page is a frame
// of its own (EncodeAll), which may be called from many goroutines at
// once: the encoder keeps one set of tables per core, where an encoder per
// Writer held 1.3 MB for each account being exported (63 MB of a 50-account
// run's heap), and its default tables 30 MB each. A window of a page's size
// does.
var encoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
})

// Writer appends pages to one run's archive file for one account.
type Writer struct {
	f   *os.File
	rel string
	n   int
	// dirty: the file has bytes no Sync has made durable yet (it is new,
	// or a page came since); fsync makes them so ((*os.File).Sync, a
	// counter in tests).
	dirty bool
	fsync func(*os.File) error
	meta  Entry
	hook  func(point string)
}

// HookTornFrame is the crash point halfway through writing a page's frame:
// a kill there leaves the file ending in half a frame.
const HookTornFrame = "archive:mid-frame"

// SetHook sets the crash-point hook (HookTornFrame); nil in production.
func (w *Writer) SetHook(h func(point string)) { w.hook = h }

// Create opens the archive file of (source, account, runID) under root.
func Create(root, source, account, runID string) (*Writer, error) {
	rel := filepath.Join(source, account, runID+Ext)
	path := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("raw archive: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raw archive: %w", err)
	}
	return &Writer{f: f, dirty: true, fsync: (*os.File).Sync, rel: rel, meta: Entry{Source: source, Account: account, RunID: runID}}, nil
}

// Rel is the file's path relative to the archive root (how the warehouse
// refers to it).
func (w *Writer) Rel() string { return w.rel }

// Pages is the number of pages appended so far.
func (w *Writer) Pages() int { return w.n }

// Append archives one response and returns its sequence number. The source,
// account and run are the writer's.
func (w *Writer) Append(e Entry) (int, error) {
	e.Seq = w.n + 1
	e.Source, e.Account, e.RunID = w.meta.Source, w.meta.Account, w.meta.RunID
	e.FetchedAt = e.FetchedAt.UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("raw archive %s page %d: %w", w.rel, e.Seq, err)
	}
	enc, err := encoder()
	if err != nil {
		return 0, fmt.Errorf("raw archive %s: %w", w.rel, err)
	}
	frame := enc.EncodeAll(append(line, '\n'), nil)
	w.dirty = true
	if w.hook != nil {
		half := len(frame) / 2
		if _, err := w.f.Write(frame[:half]); err != nil {
			return 0, fmt.Errorf("raw archive %s: %w", w.rel, err)
		}
		w.hook(HookTornFrame)
		frame = frame[half:]
	}
	if _, err := w.f.Write(frame); err != nil {
		return 0, fmt.Errorf("raw archive %s: %w", w.rel, err)
	}
	w.n = e.Seq
	return e.Seq, nil
}

// Sync flushes the file to disk; call it before committing the pages it
// holds, so the warehouse never counts pages the archive could lose. A
// writer with no page since its last Sync has nothing to flush: a
// checkpoint syncs every account's writer, and most have none.
func (w *Writer) Sync() error {
	if !w.dirty {
		return nil
	}
	if err := w.fsync(w.f); err != nil {
		return fmt.Errorf("raw archive %s: %w", w.rel, err)
	}
	w.dirty = false
	return nil
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	err := w.Sync()
	return errors.Join(err, w.f.Close())
}

// File is one archive file found under a root.
type File struct {
	Rel     string // relative to the root
	Source  string
	Account string
	RunID   string
}

// List finds every archive file under root, oldest run first (run ids
// begin with their start time), then by source and account.
func List(root string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), Ext) {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 {
			return nil // not ours
		}
		files = append(files, File{Rel: rel, Source: parts[0], Account: parts[1], RunID: strings.TrimSuffix(parts[2], Ext)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list raw archive %s: %w", root, err)
	}
	sort.Slice(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if a.RunID != b.RunID {
			return a.RunID < b.RunID
		}
		return a.Rel < b.Rel
	})
	return files, nil
}

// ErrTruncated reports an archive file whose last page was cut short (the
// process died while writing it). The pages before it are whole.
var ErrTruncated = errors.New("raw archive file ends in a partial page")

// Read calls fn with each page of a file in order. A file cut short ends
// the reading with ErrTruncated after its whole pages.
func Read(root, rel string, fn func(Entry) error) error {
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		return fmt.Errorf("raw archive: %w", err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("raw archive %s: %w", rel, err)
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 1<<16)
	for n := 0; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, zstd.ErrMagicMismatch) {
				return fmt.Errorf("%s after page %d: %w", rel, n, ErrTruncated)
			}
			return fmt.Errorf("raw archive %s after page %d: %w", rel, n, err)
		}
		var e Entry
		if err := gojson.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("raw archive %s page %d: %w", rel, n+1, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
