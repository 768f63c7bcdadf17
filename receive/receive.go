// Package receive is the webhook receiver behind `repairshop-export listen`. For each
// delivery it checks the method, the path (one per account) and the body's
// size, verifies the signature (HMAC-SHA256 of the raw body with the
// account's secret) before anything else, and appends the event to the
// account's append-only event log, fsynced, before it answers 2xx: a
// crash after the answer loses nothing, a crash before it makes the sender
// retry. A delivery that fails verification is answered 401, logged with
// the account and the reason, and kept out of the event log (its
// metadata, never its body, goes to a rejects log).
//
// It never opens the warehouse, so it runs beside `repairshop-export run`; the run
// loads the event log (by event id, exactly once).
//
// An event log is a series of segment files, so that it does not grow
// without end: once a segment holds SegmentBytes, the next event starts a
// new one, named by the log offset it starts at. Offsets run on across
// segments, so a run's cursor (how far it has loaded) stays one number;
// the run removes segments it has loaded completely (their events are in
// the warehouse and in the raw archive, which rebuild replays).
package receive

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBody bounds a delivery's body.
const MaxBody = 1 << 20

// SegmentBytes is the size at which an event log's segment is closed and
// the next event starts a new one.
const SegmentBytes = 64 << 20

// RejectBytes bounds the rejects log: past it, the log becomes its .1 file
// (replacing the one before) and starts again, so it holds between one and
// two RejectBytes of the latest refusals.
const RejectBytes = 16 << 20

// Endpoint is one account's webhook endpoint.
type Endpoint struct {
	Account, Source string
	Path            string
	Secret          []byte
	Header          string // the signature's header
	// EventID names a delivery for loading exactly once.
	EventID func(h http.Header, body []byte) string
}

// Event is one line of an account's event log.
type Event struct {
	ID         string          `json:"id"`
	Account    string          `json:"account"`
	Source     string          `json:"source"`
	ReceivedAt time.Time       `json:"received_at"`
	Body       json.RawMessage `json:"body"`
}

// Rejected is one line of an account's rejects log: a delivery refused
// before it could be trusted (its body is not kept).
type Rejected struct {
	Account    string    `json:"account"`
	ReceivedAt time.Time `json:"received_at"`
	Reason     string    `json:"reason"`
	Remote     string    `json:"remote"`
	Bytes      int       `json:"bytes"`
}

// EventLog is the path of an account's event log under dir (the raw
// archive); RejectLog its rejects.
func EventLog(dir, source, account string) string {
	return filepath.Join(dir, "webhooks", source, account+".events.jsonl")
}

// Segment is one file of an event log: the log's bytes from Start on,
// Size of them.
type Segment struct {
	Path        string
	Start, Size int64
}

// End is the log offset just past the segment.
func (s Segment) End() int64 { return s.Start + s.Size }

// segmentPath names the segment of the log at path (EventLog) that starts
// at start: the first keeps the log's own name.
func segmentPath(path string, start int64) string {
	if start == 0 {
		return path
	}
	return fmt.Sprintf("%s.%d.jsonl", strings.TrimSuffix(path, ".jsonl"), start)
}

// Segments lists the files of the event log at path (EventLog), in log
// order; none when nothing was received (or all was loaded and removed
// but for the newest).
func Segments(path string) ([]Segment, error) {
	prefix := strings.TrimSuffix(path, ".jsonl") + "."
	names, err := filepath.Glob(globEscape(prefix) + "*.jsonl")
	if err != nil {
		return nil, err
	}
	var out []Segment
	for _, name := range append(names, path) {
		start := int64(0)
		if name != path {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".jsonl"), 10, 64)
			if err != nil || n <= 0 {
				continue // another file (another account's log whose name starts alike)
			}
			start = n
		}
		info, err := os.Stat(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Segment{Path: name, Start: start, Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b Segment) int { return cmp.Compare(a.Start, b.Start) })
	return out, nil
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// RejectLog is the path of an account's rejected deliveries.
func RejectLog(dir, source, account string) string {
	return filepath.Join(dir, "webhooks", source, account+".rejected.jsonl")
}

// Receiver is an http.Handler for every account's endpoint.
type Receiver struct {
	dir       string
	endpoints map[string]*Endpoint
	log       *slog.Logger
	now       func() time.Time

	// SegmentBytes is when an event log's segment is full (SegmentBytes
	// unless set); RejectBytes when the rejects log is (RejectBytes).
	SegmentBytes, RejectBytes int64
	// fsync makes a log file durable: (*os.File).Sync, which tests
	// replace to see when deliveries are answered.
	fsync func(*os.File) error

	mu    sync.Mutex
	files map[string]*logFile // by the log's name (EventLog, RejectLog)
}

// logFile is the open file a log appends to: for an event log, its newest
// segment. Its lines are made durable by group commit: a delivery writes
// its line under the receiver's lock, then waits until an fsync that
// started after its write has returned. The first waiter to find no fsync
// in flight runs one, outside the lock, for every line written so far;
// those who wrote meanwhile wait for the next. One fsync so acknowledges
// as many deliveries as arrived while the one before ran, and none is
// acknowledged before its own bytes are durable.
type logFile struct {
	f           *os.File
	start, size int64
	// synced is the log offset (start+size at the time) the last
	// successful fsync covered; syncing says one is in flight; done is
	// broadcast when it returns.
	synced  int64
	syncing bool
	done    *sync.Cond
}

// New makes a receiver writing under dir (the raw archive).
func New(dir string, endpoints []Endpoint, log *slog.Logger) (*Receiver, error) {
	r := &Receiver{dir: dir, endpoints: map[string]*Endpoint{}, log: log, now: time.Now, files: map[string]*logFile{}, SegmentBytes: SegmentBytes, RejectBytes: RejectBytes, fsync: (*os.File).Sync}
	for i := range endpoints {
		e := &endpoints[i]
		if len(e.Secret) == 0 {
			return nil, fmt.Errorf("account %s: an empty webhook secret", e.Account)
		}
		if _, dup := r.endpoints[e.Path]; dup {
			return nil, fmt.Errorf("account %s: path %s is taken", e.Account, e.Path)
		}
		r.endpoints[e.Path] = e
	}
	return r, nil
}

// Close closes the logs.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, lf := range r.files {
		errs = append(errs, lf.f.Close())
	}
	r.files = map[string]*logFile{}
	return errors.Join(errs...)
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	e, ok := r.endpoints[req.URL.Path]
	if !ok {
		http.Error(w, "no webhook endpoint here", http.StatusNotFound)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			r.reject(e, req, len(body), fmt.Sprintf("body over %d bytes", MaxBody))
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	if why := verify(e.Secret, req.Header.Get(e.Header), body); why != "" {
		r.reject(e, req, len(body), why)
		http.Error(w, "signature not verified", http.StatusUnauthorized)
		return
	}
	if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		r.reject(e, req, len(body), "signed, but the body is not a JSON object")
		http.Error(w, "want a JSON object", http.StatusBadRequest)
		return
	}
	ev := Event{ID: e.EventID(req.Header, body), Account: e.Account, Source: e.Source, ReceivedAt: r.now().UTC(), Body: compact(body)}
	if err := r.append(EventLog(r.dir, e.Source, e.Account), true, ev); err != nil {
		// Not durable: the sender must retry.
		r.log.Error("webhook: could not store the event; answering 503 so that the sender retries", "account", e.Account, "source", e.Source, "error", err)
		http.Error(w, "could not store the event", http.StatusServiceUnavailable)
		return
	}
	r.log.Info("webhook received", "account", e.Account, "source", e.Source, "event", eventName(body), "id", ev.ID)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"received":true}`+"\n")
}

// verify checks the signature header against the body's HMAC-SHA256: hex
// or base64, with or without a "sha256=" prefix. It says why not ("" when
// verified).
func verify(secret []byte, header string, body []byte) string {
	sig := strings.TrimSpace(header)
	if sig == "" {
		return "no signature header"
	}
	if i := strings.IndexByte(sig, '='); i > 0 && strings.EqualFold(sig[:i], "sha256") {
		sig = sig[i+1:]
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, decode := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString, base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString} {
		if got, err := decode(sig); err == nil && len(got) == len(want) {
			if hmac.Equal(got, want) {
				return ""
			}
			return "signature does not match the body (wrong secret, or a body changed on the way)"
		}
	}
	return "signature is not a SHA-256 digest in hex or base64"
}

// append writes one line to a log and returns once it is durable; an event log
// (segmented) goes on in a new segment once its newest is full, and the
// rejects log, once full, replaces its one older file (path.1): a flood
// of forged deliveries cannot fill the disk.
func (r *Receiver) append(path string, segmented bool, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	lf := r.files[path]
	if lf == nil {
		if lf, err = openLog(path, segmented); err != nil {
			return err
		}
		lf.done = sync.NewCond(&r.mu)
		r.files[path] = lf
	}
	if err := r.write(path, lf, segmented, line); err != nil {
		r.drop(path, lf)
		return err
	}
	if err := r.sync(lf, lf.end()); err != nil {
		r.drop(path, lf)
		return err
	}
	return nil
}

// sync returns once an fsync of lf's file has covered the log offset end
// (group commit, see logFile). The caller holds r.mu, which sync releases
// while the fsync runs.
func (r *Receiver) sync(lf *logFile, end int64) error {
	for lf.synced < end {
		if lf.syncing {
			lf.done.Wait()
			continue
		}
		lf.syncing = true
		f, upTo := lf.f, lf.end()
		r.mu.Unlock()
		err := r.fsync(f)
		r.mu.Lock()
		lf.syncing = false
		lf.done.Broadcast()
		if err != nil {
			return err
		}
		lf.synced = max(lf.synced, upTo)
	}
	return nil
}

// drop forgets a log whose write or fsync failed. Part of a line may be
// on disk: the next append opens the log afresh, which ends that line
// first, so that the next acknowledged event is a line of its own. The
// file is closed once no fsync of it is in flight.
func (r *Receiver) drop(path string, lf *logFile) {
	for lf.syncing {
		lf.done.Wait()
	}
	if r.files[path] == lf {
		lf.f.Close()
		delete(r.files, path)
	}
}

// write appends a line to a log's open file (not yet durable: see sync),
// going on in a new segment or file first when it is full.
func (r *Receiver) write(path string, lf *logFile, segmented bool, line []byte) error {
	full := func() bool {
		limit := r.RejectBytes
		if segmented {
			limit = r.SegmentBytes
		}
		return lf.size > 0 && lf.size+int64(len(line)) > limit
	}
	for full() {
		// The full file is closed with every line in it durable (their
		// waiters are answered) and no fsync of it in flight; others may
		// write to it while an fsync runs, so this looks again each time.
		if lf.syncing {
			lf.done.Wait()
			continue
		}
		if lf.synced < lf.end() {
			if err := r.sync(lf, lf.end()); err != nil {
				return err
			}
			continue
		}
		var next *logFile
		var err error
		if segmented {
			next, err = openSegment(segmentPath(path, lf.end()), lf.end())
		} else if err = os.Rename(path, path+".1"); err == nil {
			next, err = openSegment(path, 0)
		}
		if err != nil {
			return fmt.Errorf("start a new file of %s: %w", path, err)
		}
		lf.f.Close()
		// Offsets run on across the files (the rejects log's too, for
		// sync's sake), and what the new file holds already is durable.
		lf.f, lf.start, lf.size = next.f, lf.end(), next.size
		lf.synced = lf.end()
	}
	if _, err := lf.f.Write(line); err != nil {
		return err
	}
	lf.size += int64(len(line))
	return nil
}

func (lf *logFile) end() int64 { return lf.start + lf.size }

// openLog opens a log to append to: an event log's newest segment.
func openLog(path string, segmented bool) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	start := int64(0)
	if segmented {
		segs, err := Segments(path)
		if err != nil {
			return nil, err
		}
		if len(segs) > 0 {
			start = segs[len(segs)-1].Start
		}
	}
	return openSegment(segmentPath(path, start), start)
}

// openSegment opens (or creates, its folder synced so that the name is as
// durable as the lines) one file of a log, for appending.
func openSegment(path string, start int64) (*logFile, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	lf := &logFile{f: f, start: start, size: info.Size()}
	// A receiver killed mid-write leaves a line without its newline (a
	// delivery never acknowledged): end it, so that the next line stands
	// on its own.
	if lf.size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, lf.size-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return nil, err
			}
			lf.size++
		}
	}
	return lf, nil
}

func (r *Receiver) reject(e *Endpoint, req *http.Request, n int, why string) {
	r.log.Warn("webhook refused", "account", e.Account, "source", e.Source, "reason", why, "remote", req.RemoteAddr)
	if err := r.append(RejectLog(r.dir, e.Source, e.Account), false, Rejected{Account: e.Account, ReceivedAt: r.now().UTC(), Reason: why, Remote: req.RemoteAddr, Bytes: n}); err != nil {
		r.log.Error("webhook: could not record a refused delivery", "account", e.Account, "error", err)
	}
}

func compact(body []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, body) != nil {
		return body
	}
	return b.Bytes()
}

func eventName(body []byte) string {
	var ev struct {
		Event string `json:"event"`
	}
	json.Unmarshal(body, &ev)
	return ev.Event
}
