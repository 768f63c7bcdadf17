package heaplimit

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestForIsTheFloorOrHeadroomOverTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		live, floor int64
		want        int64
	}{
		{"a small heap: the floor", 10 * mib, 128 * mib, 128 * mib},
		{"a heap at two thirds of the floor: the floor", 85 * mib, 128 * mib, 128 * mib},
		{"a heap past the floor: half again over it", 200 * mib, 128 * mib, 300 * mib},
		{"nothing measured yet: the floor", 0, 128 * mib, 128 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := For(tc.live, tc.floor); got != tc.want {
				t.Errorf("For(%d MiB, %d MiB) = %d MiB, want %d MiB", tc.live/mib, tc.floor/mib, got/mib, tc.want/mib)
			}
		})
	}
}

// The limit follows the live heap up, so that the collector is never left
// running back to back under it, and back down to the floor once the heap
// is freed.
func TestFollowRaisesTheLimitWithTheLiveHeapAndLowersItAfter(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	const floor, held = 64 << 20, 160 << 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runtime.GC() // the live heap as of now, not as of an earlier test's heap
	Follow(ctx, floor, 5*time.Millisecond)
	if got := debug.SetMemoryLimit(-1); got != floor {
		t.Fatalf("limit at start %d, want the floor %d", got, floor)
	}

	// waitFor polls until the limit passes ok; the deadline only bounds a
	// hung test, however slow the machine.
	waitFor := func(what string, ok func(limit int64) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			runtime.GC()
			limit := debug.SetMemoryLimit(-1)
			if ok(limit) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("limit %d MiB: never %s", limit>>20, what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	live := make([][]byte, held>>20)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	// Follow moves the limit only when it would change by a tenth, so a
	// step taken while the 160 MiB was still being allocated may leave it
	// up to a tenth under half again over the heap held.
	waitFor("raised to within a tenth of half again over the 160 MiB held", func(l int64) bool { return l >= held*3/2*9/10 && l != math.MaxInt64 })
	runtime.KeepAlive(live)
	live = nil
	waitFor("back to the floor", func(l int64) bool { return l == floor })
}

// A command that sets the limit itself (the simulators, which hold every
// shop's data on purpose) keeps it: Follow stops following.
func TestFollowLeavesALimitSetByAnotherAlone(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	f := newFollower(64 << 20)
	if !f.step() {
		t.Fatal("the first step gave up")
	}
	debug.SetMemoryLimit(math.MaxInt64)
	live := make([][]byte, 160)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	if f.step() {
		t.Error("a step after another set the limit went on following")
	}
	runtime.KeepAlive(live)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit %d MiB, want the one set by another (no limit)", got>>20)
	}
}
