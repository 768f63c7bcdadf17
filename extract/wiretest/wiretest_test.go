package wiretest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
)

// A paused wire answers nothing until resumed; then every held request is
// served, and so are the next ones.
func TestPauseHoldsRequestsUntilResumed(t *testing.T) {
	var served atomic.Int32
	w := New(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		served.Add(1)
		rw.Write([]byte("[]"))
	}), budget.Real{})
	srv := httptest.NewServer(w)
	defer srv.Close()

	resume := w.Pause()
	answered := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(srv.URL)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			answered <- err
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.AwaitPaused(ctx, 2); err != nil {
		t.Fatalf("the requests never reached the pause: %v", err)
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("%d request(s) served while paused", n)
	}
	resume()
	resume() // a second call is harmless
	for range 2 {
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := http.Get(srv.URL); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after resume: %v", err)
	}
	if n := served.Load(); n != 3 {
		t.Errorf("%d requests served, want 3", n)
	}
}

// A client that hangs up on a paused wire is not served when it resumes:
// the simulator behind it never counts a request nobody waits for.
func TestAClientThatHangsUpIsNotServed(t *testing.T) {
	var served atomic.Int32
	w := New(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { served.Add(1) }), budget.Real{})
	srv := httptest.NewServer(w)
	defer srv.Close()
	resume := w.Pause()
	defer resume()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		http.DefaultClient.Do(req)
	}()
	wait, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	if err := w.AwaitPaused(wait, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if err := waitUntil(wait, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.waiting == 0
	}); err != nil {
		t.Fatal("the request stayed held after its client hung up")
	}
	resume()
	if n := served.Load(); n != 0 {
		t.Errorf("%d request(s) served after the client hung up", n)
	}
}

func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
