package load

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// traced runs a small run with SQLTraceEnv set to value and returns what
// the trace printed.
func traced(t *testing.T, value string) string {
	t.Helper()
	var out bytes.Buffer
	old := traceOut
	traceOut = &out
	t.Cleanup(func() { traceOut = old })
	t.Setenv(SQLTraceEnv, value)
	w, _ := openTemp(t)
	loadRun(t, w, "20261125T020000.000Z-trace", "["+jobJSON(1, "2026-11-01T10:00:00Z", "open")+"]")
	return out.String()
}

func TestTheSQLTraceNamesEachStatementOverItsThreshold(t *testing.T) {
	line := regexp.MustCompile(`^sql +[0-9]+\.[0-9] ms  \S`)
	all := traced(t, "0s")
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	var commits, inserts int
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Fatalf("trace line %q: want `sql <ms> ms  <statement>`", l)
		}
		if len(l) > 260 || strings.Contains(l, "\n") {
			t.Errorf("trace line not cut to one short line: %q", l)
		}
		switch text := l[strings.Index(l, "ms  ")+4:]; {
		case text == "COMMIT":
			commits++
		case strings.HasPrefix(text, "INSERT OR REPLACE INTO \"tiny\".\"jobs\""), strings.HasPrefix(text, "INSERT INTO \"tiny\".\"jobs\""):
			inserts++
		}
	}
	if commits == 0 || inserts == 0 {
		t.Errorf("a run traced at 0s: %d COMMIT and %d inserts into tiny.jobs in\n%s", commits, inserts, all)
	}
	if got := traced(t, "1h"); got != "" {
		t.Errorf("at 1h nothing takes long enough, got\n%s", got)
	}
	if got := traced(t, ""); got != "" {
		t.Errorf("unset, the trace is off, got\n%s", got)
	}
}

func TestABadSQLTraceValueIsRefusedAtOpen(t *testing.T) {
	for _, v := range []string{"fast", "100", "-1s"} {
		t.Setenv(SQLTraceEnv, v)
		w, err := Open(ctx, t.TempDir()+"/w.duckdb")
		if err == nil {
			w.Close()
			t.Errorf("%s=%q opened", SQLTraceEnv, v)
			continue
		}
		if !strings.Contains(err.Error(), SQLTraceEnv) || !strings.Contains(err.Error(), "100ms") {
			t.Errorf("%s=%q: %v; want the variable named and an example", SQLTraceEnv, v, err)
		}
	}
}
