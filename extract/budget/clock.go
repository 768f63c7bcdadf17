// Package budget paces requests to an API key. It holds the clock every
// rate-sensitive piece takes (so tests run an hour of pacing in milliseconds)
// and the per-key token bucket that keeps a client below the documented limit
// and silent for a cool-down after any rate-limit signal.
//
// It is shared by every source client in extract/ and knows nothing of HTTP.
package budget

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time and waits. Real code uses Real; tests use a Fake so
// that minute-long waits cost nothing and results are deterministic.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
type Real struct{}

// Now returns the current time in UTC.
func (Real) Now() time.Time { return time.Now().UTC() }

// Sleep waits for d or until ctx is done.
func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Fake is a simulated clock: Sleep advances it instead of waiting. A client
// and a simulator sharing one Fake see a consistent timeline, so a test can
// check that a client kept 60 s of silence after a rate-limit error without
// spending a minute. It is safe for concurrent use; concurrent sleepers all
// move the same timeline forward, which only ever makes waits look longer.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start.UTC()} }

// Now returns the simulated time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Sleep advances the simulated time by d.
func (f *Fake) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.Advance(d)
	return nil
}

// Advance moves the simulated time forward by d (ignored if negative).
func (f *Fake) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

type waitReasonKey struct{}

// WithWaitReason names what a Sleep under ctx waits for ("hourly quota
// reset"), for a progress display that shows the current wait.
func WithWaitReason(ctx context.Context, why string) context.Context {
	return context.WithValue(ctx, waitReasonKey{}, why)
}

// WaitReason is what WithWaitReason named ("" for none).
func WaitReason(ctx context.Context) string {
	s, _ := ctx.Value(waitReasonKey{}).(string)
	return s
}
