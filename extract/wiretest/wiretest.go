// Package wiretest breaks HTTP the ways networks, proxies and load
// balancers do in front of an API, whatever the API: a connection reset
// without an answer, a 200 with an empty body, a JSON answer labelled
// text/plain, a bare 429 from a throttling proxy. Both simulators put a
// Wire in front of their own handler, so a fault means the same thing for
// either source. It also stamps every answer's Date header from the
// server's clock, which a test may set minutes off the client's (Skew).
//
// What an API itself answers (its envelope, its rate-limit error, its
// paging) stays in its simulator.
package wiretest

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/repairshop/export/extract/budget"
)

// Faults are served to the next requests, any key, one per request, in
// the order of the fields.
type Faults struct {
	// Reset closes the connection of the next N requests without an
	// answer (a TCP reset).
	Reset int
	// Empty answers the next N requests with 200 and an empty body.
	Empty int
	// TooMany answers the next N requests with 429 and neither headers
	// nor a body, as a proxy throttling in front of the API does.
	TooMany int
	// WrongType labels the next N answers text/plain, their bodies as
	// the API wrote them.
	WrongType int
	// Huge answers the next N requests with 200 and a body of HugeBody
	// bytes (a JSON array of one long string), streamed without a
	// Content-Length, as a broken server or proxy might.
	Huge int
	// Deep answers the next N requests with 200 and a whole JSON array
	// nested DeepBody levels deep: more than encoding/json reads.
	Deep int
}

// DeepBody is the nesting of a Deep answer.
const DeepBody = 10001

// HugeBody is the size of a Huge answer: 200 MB.
const HugeBody = 200 << 20

// Wire is an http.Handler in front of a simulator.
type Wire struct {
	next  http.Handler
	clock budget.Clock

	mu      sync.Mutex
	f       Faults
	bare429 map[string]int // bare 429s served, by Authorization header
	// gate, while set, holds every request unanswered until it is closed
	// (Pause); waiting counts the requests held at it.
	gate    chan struct{}
	waiting int
	arrived chan struct{} // closed and replaced when a request reaches the gate
}

// New puts a Wire in front of next; clock stamps the Date header.
func New(next http.Handler, clock budget.Clock) *Wire {
	return &Wire{next: next, clock: clock, bare429: map[string]int{}, arrived: make(chan struct{})}
}

// Pause holds every request from now on unanswered, as a server that has
// stopped answering does, until resume is called (or the client hangs up).
// A test then stops a run mid-request, or keeps a run holding the
// warehouse, for exactly as long as it needs: no guessed stall is too
// short on a slow machine or too long on a fast one.
func (w *Wire) Pause() (resume func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	gate := make(chan struct{})
	w.gate = gate
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			if w.gate == gate {
				w.gate = nil
			}
			w.mu.Unlock()
			close(gate)
		})
	}
}

// AwaitPaused waits until at least n requests are held by Pause, or ctx
// ends.
func (w *Wire) AwaitPaused(ctx context.Context, n int) error {
	for {
		w.mu.Lock()
		waiting, arrived := w.waiting, w.arrived
		w.mu.Unlock()
		if waiting >= n {
			return nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// hold keeps a request at the gate while there is one; false: the
// client hung up meanwhile, and nothing is to be served.
func (w *Wire) hold(r *http.Request) bool {
	w.mu.Lock()
	gate := w.gate
	if gate == nil {
		w.mu.Unlock()
		return true
	}
	w.waiting++
	close(w.arrived)
	w.arrived = make(chan struct{})
	w.mu.Unlock()
	gone := false
	select {
	case <-gate:
	case <-r.Context().Done():
		gone = true
	}
	w.mu.Lock()
	w.waiting--
	w.mu.Unlock()
	return !gone
}

// Inject adds faults for the next requests.
func (w *Wire) Inject(f Faults) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.f.Reset += f.Reset
	w.f.Empty += f.Empty
	w.f.TooMany += f.TooMany
	w.f.WrongType += f.WrongType
	w.f.Huge += f.Huge
	w.f.Deep += f.Deep
}

// Clear drops the faults not yet served (the outage is over).
func (w *Wire) Clear() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.f = Faults{}
}

// TooManyServed is how many bare 429s went to requests carrying this
// Authorization header value.
func (w *Wire) TooManyServed(auth string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bare429[auth]
}

// take returns the fault the next request gets ("" for none).
func (w *Wire) take(auth string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.f.Reset > 0:
		w.f.Reset--
		return "reset"
	case w.f.Empty > 0:
		w.f.Empty--
		return "empty"
	case w.f.TooMany > 0:
		w.f.TooMany--
		w.bare429[auth]++
		return "429"
	case w.f.WrongType > 0:
		w.f.WrongType--
		return "type"
	case w.f.Huge > 0:
		w.f.Huge--
		return "huge"
	case w.f.Deep > 0:
		w.f.Deep--
		return "deep"
	}
	return ""
}

// ServeHTTP serves the next fault, or passes the request on.
func (w *Wire) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if !w.hold(r) {
		return
	}
	rw.Header().Set("Date", w.clock.Now().UTC().Format(http.TimeFormat))
	switch w.take(r.Header.Get("Authorization")) {
	case "reset":
		if hj, ok := rw.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // RST, not FIN
				}
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // the server drops the connection
	case "empty":
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusOK)
	case "429":
		for k := range rw.Header() {
			rw.Header().Del(k)
		}
		rw.WriteHeader(http.StatusTooManyRequests)
	case "huge":
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 1<<20))
		rw.Write([]byte(`["`))
		for n := 0; n < HugeBody>>20; n++ {
			if _, err := rw.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
		}
		rw.Write([]byte(`"]`))
	case "deep":
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(strings.Repeat("[", DeepBody) + strings.Repeat("]", DeepBody)))
	case "type":
		w.next.ServeHTTP(&relabel{ResponseWriter: rw}, r)
	default:
		w.next.ServeHTTP(rw, r)
	}
}

// relabel replaces a JSON Content-Type with text/plain as the header goes out.
type relabel struct{ http.ResponseWriter }

func (r *relabel) WriteHeader(code int) {
	if strings.Contains(r.Header().Get("Content-Type"), "json") {
		r.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *relabel) Write(b []byte) (int, error) { return r.ResponseWriter.Write(b) }

// Skew is clk read minutes (or any d) off: the clock of a server whose
// time is not the client's.
func Skew(clk budget.Clock, d time.Duration) budget.Clock { return skewed{clk, d} }

type skewed struct {
	budget.Clock
	d time.Duration
}

func (s skewed) Now() time.Time { return s.Clock.Now().Add(s.d) }

func (s skewed) Sleep(ctx context.Context, d time.Duration) error { return s.Clock.Sleep(ctx, d) }

// Later holds a simulator's own faults back for a number of requests, so
// that a fault can strike in the middle of a run (Fault.Delay). The zero
// value holds nothing; its owner locks it.
type Later[F any] struct {
	n int
	f F
}

// Hold keeps f for n more requests, replacing what was held.
func (l *Later[F]) Hold(n int, f F) { l.n, l.f = n, f }

// Tick counts a request; ok says the held faults are due from it on.
func (l *Later[F]) Tick() (f F, ok bool) {
	if l.n == 0 {
		return f, false
	}
	if l.n--; l.n > 0 {
		return f, false
	}
	return l.f, true
}
