package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/receive"
)

// Refusals for longer than the sender retries, with nothing accepted
// since, warn that the endpoint may be disabled; a recent refusal does not.
func TestReceiversWarnWhenDeliveriesStopped(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte("warehouse: w.duckdb\nraw: " + dir + "\naccounts:\n  - {name: metro, source: repairops, api_key_env: K, webhook: {path: /h, secret_env: S}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	write := func(path string, v any) {
		os.MkdirAll(filepath.Dir(path), 0o755)
		f, _ := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		b, _ := json.Marshal(v)
		f.Write(append(b, '\n'))
		f.Close()
	}
	write(receive.EventLog(dir, "repairops", "metro"), receive.Event{ID: "e1", ReceivedAt: now.Add(-40 * time.Hour), Body: json.RawMessage(`{}`)})
	write(receive.RejectLog(dir, "repairops", "metro"), receive.Rejected{ReceivedAt: now.Add(-39 * time.Hour), Reason: "signature does not match"})
	got := Receivers(cfg, map[string]int64{}, nil, now)
	if len(got) != 1 || got[0].Received != 1 || got[0].Waiting != 1 || got[0].Refused != 1 || !strings.Contains(got[0].Warning, "disabled") {
		t.Fatalf("%+v", got)
	}
	if got := Receivers(cfg, map[string]int64{}, nil, now.Add(-39*time.Hour+time.Hour)); got[0].Warning != "" {
		t.Errorf("an hour after a refusal: %q", got[0].Warning)
	}
	// A rejects log that filled up became its .1 file: its refusals count,
	// and the newest (in the log itself) is the last one shown.
	write(receive.RejectLog(dir, "repairops", "metro")+".1", receive.Rejected{ReceivedAt: now.Add(-50 * time.Hour), Reason: "no signature header"})
	if got := Receivers(cfg, map[string]int64{}, nil, now); got[0].Refused != 2 || got[0].LastReason != "signature does not match" {
		t.Errorf("with the older rejects file: %d refused, last %q", got[0].Refused, got[0].LastReason)
	}
	os.Remove(receive.RejectLog(dir, "repairops", "metro") + ".1")
	// No refusal logged (the receiver was down), but the API's timelines
	// show changes a day and more after the last event.
	os.Remove(receive.RejectLog(dir, "repairops", "metro"))
	changed := map[string]time.Time{"metro": now.Add(-40*time.Hour + 27*time.Hour)}
	if got := Receivers(cfg, map[string]int64{}, changed, now); !strings.Contains(got[0].Warning, "deliveries have stopped") {
		t.Errorf("changes without events: %q", got[0].Warning)
	}
	changed["metro"] = now.Add(-40*time.Hour + 2*time.Hour)
	if got := Receivers(cfg, map[string]int64{}, changed, now); got[0].Warning != "" {
		t.Errorf("changes within the retry span: %q", got[0].Warning)
	}
}
