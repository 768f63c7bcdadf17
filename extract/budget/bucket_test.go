package budget

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBucketNeverExceedsLimitInAnyWindow(t *testing.T) {
	for _, tc := range []struct {
		limit    int
		per      time.Duration
		headroom float64
	}{
		{30, time.Minute, 0}, {30, time.Minute, 1}, {1000, time.Hour, 0.95}, {7, time.Second, 1},
	} {
		clk := NewFake(t0)
		b, err := NewBucket(clk, tc.limit, tc.per, tc.headroom)
		if err != nil {
			t.Fatal(err)
		}
		var times []time.Time
		for i := 0; i < 5*tc.limit; i++ {
			if err := b.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			times = append(times, clk.Now())
		}
		for i := range times {
			j := i
			for j < len(times) && times[j].Sub(times[i]) < tc.per {
				j++
			}
			if n := j - i; n > tc.limit {
				t.Fatalf("%+v: %d requests within %v starting at #%d", tc, n, tc.per, i)
			}
		}
		// And it is not needlessly slow: 90% of the limit by default.
		want := tc.headroom
		if want == 0 {
			want = DefaultHeadroom
		}
		span := times[len(times)-1].Sub(times[0])
		rate := float64(len(times)-1) / span.Seconds() * tc.per.Seconds()
		if rate < want*float64(tc.limit)*0.98 {
			t.Errorf("%+v: paced at %.1f per window, want about %.1f", tc, rate, want*float64(tc.limit))
		}
	}
}

func TestBucketCoolDown(t *testing.T) {
	clk := NewFake(t0)
	b, _ := NewBucket(clk, 30, time.Minute, 0)
	b.Wait(context.Background())
	until := b.CoolDown(time.Minute)
	b.CoolDown(time.Second) // a shorter cool-down never shortens the running one
	b.Wait(context.Background())
	if got := clk.Now(); got.Before(until) || !until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next request at %v, want ≥ %v (one minute after the signal)", got, until)
	}
}

func TestBucketWaitHonoursContext(t *testing.T) {
	b, _ := NewBucket(Real{}, 1, time.Hour, 1)
	b.Wait(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); err == nil {
		t.Fatal("Wait returned nil while the next slot is an hour away")
	}
}
