package budget

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func ledgerBucket(t *testing.T, clk Clock, dir string) *Bucket {
	t.Helper()
	b, err := NewBucket(clk, 30, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLedger(dir, KeyID("mgr", "secret-key-123"))
	if err != nil {
		t.Fatal(err)
	}
	b.UseLedger(l)
	return b
}

// maxPerMinute is the most requests in any one-minute window.
func maxPerMinute(times []time.Time) int {
	most := 0
	for i := range times {
		n := 0
		for _, u := range times[i:] {
			if u.Sub(times[i]) < time.Minute {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// interleave sends 90 requests through two buckets sharing a clock.
func interleave(t *testing.T, clk Clock, a, b *Bucket) []time.Time {
	t.Helper()
	var times []time.Time
	for i := 0; i < 90; i++ {
		bk := a
		if i%3 == 0 {
			bk = b
		}
		if err := bk.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		times = append(times, clk.Now())
	}
	return times
}

// Two processes on one key, each with its own bucket: through the ledger
// they are paced as one client.
func TestLedgerPacesProcessesAsOne(t *testing.T) {
	dir := t.TempDir()
	clk := NewFake(t0)
	a, b := ledgerBucket(t, clk, dir), ledgerBucket(t, clk, dir)
	if n := maxPerMinute(interleave(t, clk, a, b)); n > 30 {
		t.Fatalf("%d requests in one minute across both buckets, limit 30", n)
	}
	if st, _ := a.ledger.Read(); st.Requests != 90 {
		t.Errorf("ledger counts %d requests, want 90", st.Requests)
	}
	// The control: the same two buckets without a ledger break the limit.
	clk = NewFake(t0)
	c, _ := NewBucket(clk, 30, time.Minute, 0)
	d, _ := NewBucket(clk, 30, time.Minute, 0)
	if n := maxPerMinute(interleave(t, clk, c, d)); n <= 30 {
		t.Fatalf("control: two unshared buckets sent only %d a minute; the test proves nothing", n)
	}
}

// A run that starts 20 s after another run's rate-limit signal waits out
// the minute before its first request.
func TestLedgerCarriesTheCoolDownToTheNextRun(t *testing.T) {
	dir := t.TempDir()
	clk := NewFake(t0)
	first := ledgerBucket(t, clk, dir)
	first.Wait(context.Background())
	signalled := clk.Now()
	first.CoolDown(time.Minute)

	clk.Sleep(context.Background(), 20*time.Second) // the crashed run is gone; cron starts another
	next := ledgerBucket(t, clk, dir)
	if got := next.CoolingUntil(); !got.Equal(signalled.Add(time.Minute)) {
		t.Fatalf("new run sees cool-down until %s, want %s", got, signalled.Add(time.Minute))
	}
	if err := next.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if silence := clk.Now().Sub(signalled); silence < time.Minute {
		t.Fatalf("first request %s after the signal, want ≥ 1m", silence)
	}
	data, err := os.ReadFile(next.ledger.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "secret-key-123") || strings.Contains(next.ledger.Path(), "secret-key-123") {
		t.Fatal("the ledger names the key")
	}
	if !strings.Contains(string(data), `"rate_signals":1`) {
		t.Errorf("ledger = %s", data)
	}
}

func TestLedgerSurvivesAGarbledFile(t *testing.T) {
	dir := t.TempDir()
	id := KeyID("mgr", "k")
	os.WriteFile(dir+"/"+id+".json", []byte("{not json"), 0o600)
	l, err := OpenLedger(dir, id)
	if err != nil {
		t.Fatalf("garbled ledger: %v", err)
	}
	if KeyID("mgr", "k") == KeyID("mgr", "k2") || KeyID("mgr", "k") == KeyID("repairops", "k") {
		t.Error("key ids collide")
	}
	if _, err := l.Read(); err != nil {
		t.Fatal(err)
	}
}

// A ledger whose times lie hours ahead (the clock was set back) does not
// stall the export.
func TestLedgerIgnoresSlotsFromTheFarFuture(t *testing.T) {
	dir := t.TempDir()
	future := ledgerBucket(t, NewFake(t0.Add(48*time.Hour)), dir)
	future.Wait(context.Background())
	future.CoolDown(time.Minute)
	clk := NewFake(t0)
	now := ledgerBucket(t, clk, dir)
	if err := now.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := clk.Now().Sub(t0); waited > time.Minute {
		t.Fatalf("waited %s for a slot two days ahead", waited)
	}
}

// A request's slot is written without a flush; a rate signal's silence is
// flushed, and so is every write while it lasts, so that no crash of the
// host can lose it, even in the middle of a later slot's rewrite.
func TestLedgerFlushesWhatASilenceNeeds(t *testing.T) {
	syncs := 0
	old := syncFile
	syncFile = func(f *os.File) error { syncs++; return old(f) }
	t.Cleanup(func() { syncFile = old })
	l, err := OpenLedger(t.TempDir(), KeyID("mgr", "k"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	step := func(what string, want int, do func() error) {
		t.Helper()
		syncs = 0
		if err := do(); err != nil {
			t.Fatal(err)
		}
		if syncs != want {
			t.Errorf("%s: %d flushes, want %d", what, syncs, want)
		}
	}
	reserve := func() error { _, _, err := l.reserve(now, time.Time{}, time.Time{}, 2*time.Second); return err }
	step("a slot, no silence", 0, reserve)
	step("a rate signal", 1, func() error { _, err := l.signal(now, now.Add(time.Minute)); return err })
	now = now.Add(30 * time.Second)
	step("a slot during the silence", 1, reserve)
	now = now.Add(5 * time.Minute)
	step("a slot after it", 0, reserve)
	if st, err := l.Read(); err != nil || st.Requests != 3 || st.Signals != 1 {
		t.Errorf("ledger %+v, %v: want 3 requests and 1 signal", st, err)
	}
}
