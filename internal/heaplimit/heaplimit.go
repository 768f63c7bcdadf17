// Package heaplimit keeps the Go heap's soft limit (debug.SetMemoryLimit)
// above what the heap must hold. A fixed limit is cheap while the live
// heap is far below it, and ruinous once the live heap nears it: the
// collector then runs back to back. A many-account run holds each
// account's detail queue, so its live heap grows with its accounts and
// their records; a fixed 128 MiB cost a 50-account run more than half its
// time. Follow raises the limit with the live heap instead, so that it
// trims garbage without ever starving the work.
package heaplimit

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Headroom is the limit over the live heap: the heap may grow by half
// the live heap between collections, where Go's default (GOGC=100) lets
// it double.
const Headroom = 1.5

// For is the soft limit for a live heap: floor, or Headroom times the
// live heap when that is more.
func For(live, floor int64) int64 {
	return max(floor, int64(float64(live)*Headroom))
}

// Follow sets the soft limit to For(floor) of the live heap now and at
// every interval until ctx ends, or until something else sets the limit
// (a command that holds data on purpose, as the simulators do). It sets
// the limit only when it changes by a tenth.
func Follow(ctx context.Context, floor int64, every time.Duration) {
	f := newFollower(floor)
	f.step()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !f.step() {
					return
				}
			}
		}
	}()
}

// follower is Follow's state: the limit it last set (-1: none yet).
type follower struct {
	floor, set int64
	sample     []metrics.Sample
}

func newFollower(floor int64) *follower {
	return &follower{floor: floor, set: -1, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
}

// step sets the limit for the live heap now; false if something else
// has set it since the last step.
func (f *follower) step() bool {
	if f.set >= 0 && debug.SetMemoryLimit(-1) != f.set {
		return false // set by someone else: theirs to keep
	}
	metrics.Read(f.sample)
	var live int64
	if f.sample[0].Value.Kind() == metrics.KindUint64 {
		live = int64(f.sample[0].Value.Uint64())
	}
	limit := For(live, f.floor)
	if f.set < 0 || limit > f.set+f.set/10 || limit < f.set-f.set/10 {
		debug.SetMemoryLimit(limit)
		f.set = limit
	}
	return true
}
