package progress

import (
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/pipeline"
)

func TestLineShowsThePlanTheWaitAndTheETA(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		a    pipeline.AccountProgress
		want []string
		not  []string
	}{
		{"paced: the rest of the plan at the key's pace",
			pipeline.AccountProgress{Planned: 100, Requests: 40, Pace: 30, Rows: 1234, Queue: 12},
			[]string{"40/100 req", "1234 rows", "12 details queued", "ETA 2m0s at 30 req/min"}, []string{"waiting"}},
		{"waiting for a quota's reset: the wait adds to the ETA",
			pipeline.AccountProgress{Planned: 100, Requests: 40, Pace: 30, WaitUntil: now.Add(5 * time.Minute), WaitWhy: "hourly quota reset"},
			[]string{"waiting 5m0s until " + now.Add(5*time.Minute).Local().Format("15:04:05") + ": hourly quota reset", "ETA 7m0s"}, nil},
		{"beyond the plan: no negative rest",
			pipeline.AccountProgress{Planned: 10, Requests: 14, Pace: 60},
			[]string{"14/14 req", "ETA 0s"}, nil},
		{"done: the status, no ETA",
			pipeline.AccountProgress{Planned: 10, Requests: 10, Pace: 60, Done: true, Status: "partial"},
			[]string{"10/10 req", "partial"}, []string{"ETA"}},
	} {
		got := Line(tc.a, now)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q has %q", tc.name, got, w)
			}
		}
	}
}
