package budget

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Bucket spaces requests on one API key. It grants at most Limit requests in
// any sliding window of Per, with a margin (Headroom) below the documented
// limit, and after a rate-limit signal grants nothing until the cool-down has
// passed. It is safe for concurrent use.
//
// A plain token bucket with burst b and rate r admits b+r requests in one
// window, which would exceed a strict sliding-window limit; spacing requests
// evenly (burst 1) is what keeps any window under the limit.
type Bucket struct {
	clock    Clock
	interval time.Duration

	mu        sync.Mutex
	next      time.Time // earliest time the next request may start
	coolUntil time.Time // no request before this (after a rate signal)
	granted   int
	ledger    *Ledger // shared with other processes using the key; may be nil
}

// UseLedger makes the bucket reserve its slots and record its rate signals
// in a ledger file shared by every process using the same key.
func (b *Bucket) UseLedger(l *Ledger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ledger = l
}

// DefaultHeadroom is the fraction of the documented limit a client uses.
const DefaultHeadroom = 0.9

// NewBucket paces to headroom×limit requests per window (e.g. 27 per minute
// for MGR's 30). headroom outside (0,1] means DefaultHeadroom.
func NewBucket(clock Clock, limit int, per time.Duration, headroom float64) (*Bucket, error) {
	if limit <= 0 || per <= 0 {
		return nil, fmt.Errorf("budget: rate limit must be positive, got %d per %v", limit, per)
	}
	if headroom <= 0 || headroom > 1 {
		headroom = DefaultHeadroom
	}
	rate := float64(limit) * headroom
	if rate < 1 {
		rate = 1
	}
	// Round up: a truncated interval would fit limit+1 requests in a window.
	interval := time.Duration(math.Ceil(float64(per) / rate))
	if min := ceilDiv(per, time.Duration(limit)); interval < min {
		interval = min
	}
	return &Bucket{clock: clock, interval: interval}, nil
}

// Interval is the spacing between two granted requests.
func (b *Bucket) Interval() time.Duration { return b.interval }

// Wait blocks until a request may be sent, then reserves the slot.
func (b *Bucket) Wait(ctx context.Context) error {
	b.mu.Lock()
	now := b.clock.Now()
	at := latest(now, b.next, b.coolUntil)
	if b.ledger != nil {
		var cool time.Time
		var err error
		if at, cool, err = b.ledger.reserve(now, b.next, b.coolUntil, b.interval); err != nil {
			b.mu.Unlock()
			return err
		}
		b.coolUntil = cool
	}
	b.next = at.Add(b.interval)
	b.granted++
	cooling := b.coolUntil.After(now) && !at.Before(b.coolUntil)
	b.mu.Unlock()
	if cooling {
		ctx = WithWaitReason(ctx, "rate-limit cool-down (silent after a rate-limit signal)")
	}
	return b.clock.Sleep(ctx, at.Sub(now))
}

// CoolDown forbids requests for d from now (extends, never shortens, a
// cool-down already in force). Called on any rate-limit signal.
func (b *Bucket) CoolDown(d time.Duration) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	until := now.Add(d)
	if until.After(b.coolUntil) {
		b.coolUntil = until
	}
	if b.ledger != nil {
		// Other processes on the key must stay silent too. If the file
		// cannot be written, this process still keeps its own silence.
		if shared, err := b.ledger.signal(now, b.coolUntil); err == nil {
			b.coolUntil = shared
		}
	}
	if b.next.Before(b.coolUntil) {
		b.next = b.coolUntil
	}
	return b.coolUntil
}

// CoolingUntil reports the end of the current cool-down (zero if none),
// including one recorded in the ledger by another process.
func (b *Bucket) CoolingUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ledger != nil {
		if st, err := b.ledger.Read(); err == nil && !st.CoolUntil.After(b.clock.Now().Add(maxAhead)) {
			return latest(b.coolUntil, st.CoolUntil)
		}
	}
	return b.coolUntil
}

func ceilDiv(a, b time.Duration) time.Duration { return (a + b - 1) / b }
