package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/load"
)

// Failures interleaved with successes never stop an account; a streak of
// MaxFailureStreak does, and every failure reaches the account's error.
func TestFailuresStopAfterAStreak(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var f failures
	for i := range 2 * MaxFailureStreak {
		if f.add(log, fmt.Sprint("part ", i), errors.New("HTTP 500")) {
			t.Fatalf("stopped at failure %d, each followed by a success", i)
		}
		f.ok()
	}
	stopped := 0
	for i := range MaxFailureStreak {
		if f.add(log, "streak", errors.New("HTTP 500")) {
			stopped = i + 1
		}
	}
	if stopped != MaxFailureStreak {
		t.Errorf("a streak of %d stopped at %d", MaxFailureStreak, stopped)
	}
	res := load.AccountResult{Account: "north", Status: load.StatusPartial, Error: "account north: quota"}
	f.settle(&res)
	if res.Status != load.StatusFailed || !strings.HasPrefix(res.Error, "account north: quota; ") || !strings.Contains(res.Error, "part 5: HTTP 500") ||
		!strings.Contains(res.Error, fmt.Sprintf("%d part(s) failed", 3*MaxFailureStreak)) {
		t.Errorf("settled: %+v", res)
	}
	clean := load.AccountResult{Account: "south", Status: load.StatusOK}
	(&failures{}).settle(&clean)
	if clean.Status != load.StatusOK || clean.Error != "" {
		t.Errorf("nothing failed, yet: %+v", clean)
	}
}

func TestRunStatusFoldsTheAccounts(t *testing.T) {
	st, err := runStatus([]load.AccountResult{{Status: load.StatusOK}, {Status: load.StatusPartial, Error: "north: budget"}}, nil)
	if st != load.StatusPartial || !errors.Is(err, ErrPartial) {
		t.Errorf("one partial account: %s, %v", st, err)
	}
	st, err = runStatus([]load.AccountResult{{Status: load.StatusFailed, Error: "x"}, {Status: load.StatusPartial, Error: "y"}}, nil)
	if st != load.StatusFailed || errors.Is(err, ErrPartial) || err == nil {
		t.Errorf("failed + partial: %s, %v", st, err)
	}
}

func TestDetailPriority(t *testing.T) {
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return now.AddDate(0, 0, -d) }
	due := []load.Due{
		{ID: "old-new", Created: day(400)},
		{ID: "recent", Created: day(3)},
		{ID: "old-changed", Created: day(300), Changed: true},
		{ID: "older-new", Created: day(500)},
		{ID: "newest", Created: day(1)},
		{ID: "undated"},
	}
	Prioritise(due, now)
	var got []string
	for _, d := range due {
		got = append(got, d.ID)
	}
	if want := "newest recent old-changed old-new older-new undated"; strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}
