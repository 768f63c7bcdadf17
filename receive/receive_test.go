package receive

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func sign(secret, body string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return m.Sum(nil)
}

func readLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

func TestDeliveriesAreVerifiedThenStoredBeforeTheAnswer(t *testing.T) {
	const secret = "whsec_3b1f"
	body := `{"event":"ticket.transitioned","timestamp":"2026-02-21T15:30:00Z","data":{"ticket_id":"t-1","from_status":"IN_REPAIR","to_status":"QC_REVIEW"}}`
	dir := t.TempDir()
	var logs strings.Builder
	r, err := New(dir, []Endpoint{{Account: "metro", Source: "repairops", Path: "/hooks/metro", Secret: []byte(secret), Header: "X-RepairOps-Signature",
		EventID: func(http.Header, []byte) string { return "id-1" }}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(r)
	defer srv.Close()

	mac := sign(secret, body)
	for _, tc := range []struct {
		name, method, path, sig, body string
		want                          int
		stored                        bool
		reason                        string
	}{
		{"hex", "POST", "/hooks/metro", hex.EncodeToString(mac), body, 200, true, ""},
		{"sha256= hex", "POST", "/hooks/metro", "sha256=" + hex.EncodeToString(mac), body, 200, true, ""},
		{"base64", "POST", "/hooks/metro", base64.StdEncoding.EncodeToString(mac), body, 200, true, ""},
		{"sha256= base64 url", "POST", "/hooks/metro", "sha256=" + base64.RawURLEncoding.EncodeToString(mac), body, 200, true, ""},
		{"another secret", "POST", "/hooks/metro", hex.EncodeToString(sign("other", body)), body, 401, false, "does not match"},
		{"a changed body", "POST", "/hooks/metro", hex.EncodeToString(mac), strings.Replace(body, "QC_REVIEW", "CLOSED", 1), 401, false, "does not match"},
		{"no signature", "POST", "/hooks/metro", "", body, 401, false, "no signature"},
		{"not a digest", "POST", "/hooks/metro", "hello", body, 401, false, "not a SHA-256"},
		{"signed, not JSON", "POST", "/hooks/metro", hex.EncodeToString(sign(secret, "nope")), "nope", 400, false, "not a JSON object"},
		{"GET", "GET", "/hooks/metro", hex.EncodeToString(mac), "", 405, false, ""},
		{"another path", "POST", "/hooks/coast", hex.EncodeToString(mac), body, 404, false, ""},
		{"too large", "POST", "/hooks/metro", hex.EncodeToString(mac), `{"x":"` + strings.Repeat("a", MaxBody) + `"}`, 413, false, "body over"},
	} {
		before := len(readLines[Event](t, EventLog(dir, "repairops", "metro")))
		rejectsBefore := len(readLines[Rejected](t, RejectLog(dir, "repairops", "metro")))
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		if tc.sig != "" {
			req.Header.Set("X-RepairOps-Signature", tc.sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		// What was answered 2xx is on disk already; nothing else is.
		events := readLines[Event](t, EventLog(dir, "repairops", "metro"))
		if got := len(events) - before; got != map[bool]int{true: 1}[tc.stored] {
			t.Errorf("%s: %d event(s) stored", tc.name, got)
		}
		if tc.stored {
			ev := events[len(events)-1]
			if ev.ID != "id-1" || ev.Account != "metro" || string(ev.Body) != body || ev.ReceivedAt.IsZero() {
				t.Errorf("%s: stored %+v", tc.name, ev)
			}
		}
		rejects := readLines[Rejected](t, RejectLog(dir, "repairops", "metro"))
		if tc.reason != "" {
			if len(rejects) != rejectsBefore+1 || !strings.Contains(rejects[len(rejects)-1].Reason, tc.reason) {
				t.Errorf("%s: rejects %+v, want one saying %q", tc.name, rejects[rejectsBefore:], tc.reason)
			}
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the log shows the secret")
	}
	if !strings.Contains(logs.String(), "webhook refused") || !strings.Contains(logs.String(), "account=metro") {
		t.Errorf("refusals are not logged with the account:\n%s", logs.String())
	}
}

// Past SegmentBytes the log goes on in a new file named by the log offset
// it starts at, so the segments laid end to end are the log; a receiver
// started again appends to the newest, ending a line a kill left torn;
// another account whose name starts alike is not taken for a segment.
func TestTheEventLogGoesOnInSegments(t *testing.T) {
	const secret = "whsec_seg"
	dir := t.TempDir()
	n := 0
	newReceiver := func() (*Receiver, *httptest.Server) {
		r, err := New(dir, []Endpoint{{Account: "metro", Source: "repairops", Path: "/hooks/metro", Secret: []byte(secret), Header: "X-Sig",
			EventID: func(http.Header, []byte) string { n++; return strings.Repeat("i", 40) + string(rune('a'+n%26)) }}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		r.SegmentBytes = 600
		return r, httptest.NewServer(r)
	}
	post := func(url string, i int) {
		body := `{"event":"payment.processed","data":{"payment_id":"p` + strings.Repeat("0", i%7) + `"}}`
		req, _ := http.NewRequest("POST", url+"/hooks/metro", strings.NewReader(body))
		req.Header.Set("X-Sig", hex.EncodeToString(sign(secret, body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("delivery %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	log := EventLog(dir, "repairops", "metro")
	os.MkdirAll(dir+"/webhooks/repairops", 0o755)
	os.WriteFile(EventLog(dir, "repairops", "metro.events.7"), []byte("{}\n"), 0o644) // another account's log
	r, srv := newReceiver()
	for i := range 12 {
		post(srv.URL, i)
	}
	srv.Close()
	r.Close()
	// Killed mid-write, then started again.
	segs, _ := Segments(log)
	f, _ := os.OpenFile(segs[len(segs)-1].Path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"id":"torn`)
	f.Close()
	r, srv = newReceiver()
	for i := range 5 {
		post(srv.URL, 12+i)
	}
	srv.Close()
	r.Close()

	segs, err := Segments(log)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 4 {
		t.Fatalf("%d segment(s) for 17 events of ~200 bytes in segments of 600: %+v", len(segs), segs)
	}
	var whole []byte
	for i, s := range segs {
		if s.Start != int64(len(whole)) {
			t.Errorf("segment %d starts at %d, but the segments before it end at %d", i, s.Start, len(whole))
		}
		b, _ := os.ReadFile(s.Path)
		if int64(len(b)) != s.Size || len(b) == 0 || b[len(b)-1] != '\n' {
			t.Errorf("segment %s: %d bytes (listed %d), want whole lines", s.Path, len(b), s.Size)
		}
		if i < len(segs)-1 && s.Size > 600 && bytes.Count(b, []byte("\n")) > 1 {
			t.Errorf("segment %s holds %d bytes, past the 600 allowed", s.Path, s.Size)
		}
		whole = append(whole, b...)
	}
	var events, torn int
	for _, line := range bytes.Split(bytes.TrimSuffix(whole, []byte("\n")), []byte("\n")) {
		var ev Event
		if json.Unmarshal(line, &ev) != nil {
			torn++
			continue
		}
		events++
	}
	if events != 17 || torn != 1 {
		t.Errorf("the segments hold %d events and %d torn line(s), want 17 and 1", events, torn)
	}
}

// A flood of forged deliveries cannot fill the disk: past RejectBytes the
// rejects log becomes its .1 file (replacing the older one) and starts
// again; every refusal is still answered 401, and the newest is kept.
func TestARejectsFloodIsBounded(t *testing.T) {
	dir := t.TempDir()
	r, err := New(dir, []Endpoint{{Account: "metro", Source: "repairops", Path: "/hooks/metro", Secret: []byte("whsec_flood"), Header: "X-Sig",
		EventID: func(http.Header, []byte) string { return "x" }}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.RejectBytes = 2000
	srv := httptest.NewServer(r)
	defer srv.Close()
	for i := range 200 {
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/metro", strings.NewReader(`{"event":"payment.processed"}`))
		req.Header.Set("X-Sig", strings.Repeat("ab", 32)) // a digest, the wrong one
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forgery %d: %d, want 401", i, resp.StatusCode)
		}
	}
	log := RejectLog(dir, "repairops", "metro")
	var total int64
	for _, p := range []string{log, log + ".1"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if info.Size() > 2000 {
			t.Errorf("%s holds %d bytes, past the 2000 allowed", p, info.Size())
		}
		total += info.Size()
	}
	if total < 2000 {
		t.Errorf("the rejects logs hold %d bytes in all: the latest refusals were not kept", total)
	}
	rejects := readLines[Rejected](t, log)
	if len(rejects) == 0 || !strings.Contains(rejects[len(rejects)-1].Reason, "does not match") {
		t.Errorf("the newest refusal is not last in the log: %+v", rejects)
	}
	if events := readLines[Event](t, EventLog(dir, "repairops", "metro")); len(events) != 0 {
		t.Errorf("%d forged event(s) stored", len(events))
	}
}

// A write that fails (a full disk, an I/O error) is answered 503, so the
// sender retries; what part of its line reached the disk is ended before
// the next event, which is acknowledged as a line of its own.
func TestAFailedWriteLeavesTheNextEventWhole(t *testing.T) {
	const secret = "whsec_io"
	dir := t.TempDir()
	r, err := New(dir, []Endpoint{{Account: "metro", Source: "repairops", Path: "/hooks/metro", Secret: []byte(secret), Header: "X-Sig",
		EventID: func(_ http.Header, body []byte) string { return string(body[len(body)-5 : len(body)-3]) }}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(r)
	defer srv.Close()
	post := func(id string) int {
		body := `{"event":"payment.processed","data":{"payment_id":"` + id + `"}}`
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/metro", strings.NewReader(body))
		req.Header.Set("X-Sig", hex.EncodeToString(sign(secret, body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	log := EventLog(dir, "repairops", "metro")
	if code := post("p1"); code != 200 {
		t.Fatalf("p1: %d", code)
	}
	// The disk fails mid-line: half a line is written, the file is gone
	// from under the receiver.
	r.mu.Lock()
	r.files[log].f.Close()
	r.mu.Unlock()
	f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"id":"p2","account":"metro","bo`)
	f.Close()
	if code := post("p2"); code != http.StatusServiceUnavailable {
		t.Errorf("p2, not stored: %d, want 503 (the sender retries)", code)
	}
	for _, id := range []string{"p3", "p2"} {
		if code := post(id); code != 200 {
			t.Errorf("%s after the failure: %d, want 200", id, code)
		}
	}
	b, _ := os.ReadFile(log)
	var ids []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var ev Event
		if json.Unmarshal([]byte(line), &ev) == nil {
			ids = append(ids, ev.ID)
		}
	}
	if got := strings.Join(ids, ","); got != "p1,p3,p2" {
		t.Errorf("whole events in the log: %s, want p1,p3,p2 (the torn line apart)\n%s", got, b)
	}
}

// Deliveries that arrive while an fsync runs are made durable together by
// the next one (group commit), and none is answered before an fsync that
// began after its line was written has returned; under the same load, a
// full segment is closed only once an fsync covered all of it.
func TestDeliveriesShareAnFsyncAndWaitForIt(t *testing.T) {
	const secret, n = "whsec_group", 16
	dir := t.TempDir()
	r, err := New(dir, []Endpoint{{Account: "metro", Source: "repairops", Path: "/hooks/metro", Secret: []byte(secret), Header: "X-Sig",
		EventID: func(_ http.Header, body []byte) string { return string(body[7:15]) }}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var (
		mu    sync.Mutex
		syncs []Segment // each fsync's file and its size when it began
		hold  = make(chan struct{})
		pause time.Duration
	)
	r.fsync = func(f *os.File) error {
		info, err := f.Stat()
		if err != nil {
			return err
		}
		<-hold
		time.Sleep(pause) // deliveries pile up while an fsync runs
		mu.Lock()
		syncs = append(syncs, Segment{Path: f.Name(), Size: info.Size()})
		mu.Unlock()
		return f.Sync()
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	logged := func() []string {
		t.Helper()
		var ids []string
		segs, _ := Segments(EventLog(dir, "repairops", "metro"))
		for _, s := range segs {
			for _, e := range readLines[Event](t, s.Path) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	deliver := func(from int) chan string {
		answered := make(chan string, n)
		for i := from; i < from+n; i++ {
			go func() {
				body := fmt.Sprintf(`{"id":"ev-%05d","event":"ticket.updated"}`, i)
				req, _ := http.NewRequest("POST", srv.URL+"/hooks/metro", strings.NewReader(body))
				req.Header.Set("X-Sig", hex.EncodeToString(sign(secret, body)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					answered <- err.Error()
					return
				}
				resp.Body.Close()
				answered <- fmt.Sprintf("ev-%05d %d", i, resp.StatusCode)
			}()
		}
		return answered
	}
	allAnswered := func(answered chan string) {
		t.Helper()
		for range n {
			if a := <-answered; !strings.HasSuffix(a, " 200") {
				t.Fatalf("delivery: %s", a)
			}
		}
	}

	// The fsyncs held: every line gets written, none is answered.
	answered := deliver(0)
	deadline := time.Now().Add(10 * time.Second)
	for len(logged()) < n {
		if time.Now().After(deadline) {
			close(hold)
			t.Fatalf("%d of %d lines written", len(logged()), n)
		}
		select {
		case a := <-answered:
			close(hold)
			t.Fatalf("answered before any fsync returned: %s", a)
		case <-time.After(20 * time.Millisecond):
		}
	}
	close(hold)
	allAnswered(answered)
	if len(syncs) >= n {
		t.Errorf("%d fsyncs for %d deliveries that arrived together: no group commit", len(syncs), n)
	}
	t.Logf("%d deliveries, %d fsyncs", n, len(syncs))

	// Small segments, deliveries at once: each full segment was covered
	// whole by an fsync before it was closed.
	r.mu.Lock()
	r.SegmentBytes, pause = 500, 5*time.Millisecond // three lines a segment
	r.mu.Unlock()
	allAnswered(deliver(n))
	segs, _ := Segments(EventLog(dir, "repairops", "metro"))
	if ids := logged(); len(ids) != 2*n || len(segs) < 3 {
		t.Fatalf("%d events in the log in %d segments, want %d in several", len(ids), len(segs), 2*n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range segs[:len(segs)-1] {
		if !slices.ContainsFunc(syncs, func(x Segment) bool { return x.Path == s.Path && x.Size == s.Size }) {
			t.Errorf("segment %s (%d bytes) was closed without an fsync of all of it", filepath.Base(s.Path), s.Size)
		}
	}
}
