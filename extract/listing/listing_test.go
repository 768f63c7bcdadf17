package listing

import (
	"encoding/json"
	"testing"
	"time"
)

func TestRecordID(t *testing.T) {
	for _, tc := range []struct {
		rec    string
		want   string
		wantOK bool
	}{
		{`{"id":"T-1"}`, "T-1", true},
		{`{"id":42}`, "42", true},
		{`{"id":12345678901234567890}`, "12345678901234567890", true},
		{`{"id":""}`, "", false},
		{`{"id":null}`, "", false},
		{`{"number":"T-1"}`, "", false},
		{`not json`, "", false},
	} {
		got, ok := RecordID(json.RawMessage(tc.rec))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("RecordID(%s) = %q, %v; want %q, %v", tc.rec, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestFingerprint(t *testing.T) {
	fields := []string{"updated_at", "totals.total"}
	base := `{"id":1,"updated_at":"2026-01-02T03:04:05Z","totals":{"total":"10.00"},"note":"a"}`
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"identical", base, base, true},
		{"key order does not matter", base, `{"note":"a","totals":{"total":"10.00"},"updated_at":"2026-01-02T03:04:05Z","id":1}`, true},
		{"fields outside the list do not count", base, `{"id":1,"updated_at":"2026-01-02T03:04:05Z","totals":{"total":"10.00"},"note":"b"}`, true},
		{"a listed field moved", base, `{"id":1,"updated_at":"2026-01-03T03:04:05Z","totals":{"total":"10.00"},"note":"a"}`, false},
		{"a nested listed field moved", base, `{"id":1,"updated_at":"2026-01-02T03:04:05Z","totals":{"total":"10.01"},"note":"a"}`, false},
		{"a listed field appeared", `{"id":1,"updated_at":"x"}`, `{"id":1,"updated_at":"x","totals":{"total":"1"}}`, false},
		{"none of the fields: whole record counts", `{"id":1,"modified":"a"}`, `{"id":1,"modified":"b"}`, false},
		{"none of the fields, unchanged", `{"id":1,"modified":"a"}`, `{"modified":"a","id":1}`, true},
		{"numbers keep their spelling", `{"updated_at":1.10}`, `{"updated_at":1.1}`, false},
		{"unreadable records are hashed as bytes", `{bad`, `{bad!`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa, fb := Fingerprint(fields, json.RawMessage(tc.a)), Fingerprint(fields, json.RawMessage(tc.b))
			if (fa == fb) != tc.same {
				t.Errorf("fingerprints %s and %s: same=%v, want %v", fa, fb, fa == fb, tc.same)
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	page := `[
		{"id":"b","created_at":"2026-03-01T10:00:00+0200"},
		{"number":"no id"},
		{"id":7,"created":"2026-02-01","created_at":"garbage"},
		{"id":"c"}
	]`
	got := Summarise(json.RawMessage(page), []string{"updated_at"}, []string{"created_at", "created"})
	want := []struct {
		id      string
		created time.Time
	}{
		{"b", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)},
		{"7", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"c", time.Time{}},
	}
	if len(got) != len(want) {
		t.Fatalf("Summarise gave %d records, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].ID != w.id || !got[i].Created.Equal(w.created) || got[i].Fingerprint == "" {
			t.Errorf("record %d = %+v; want id %s created %v", i, got[i], w.id, w.created)
		}
	}
	if Summarise(json.RawMessage(`{"not":"an array"}`), nil, nil) != nil {
		t.Error("a page that is not an array must summarise to nothing")
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"2026-03-01T08:00:00Z",
		"2026-03-01T10:00:00+02:00",
		"2026-03-01T10:00:00+0200",
		"2026-03-01T08:00:00.000Z",
		"2026-03-01T08:00:00",
		"2026-03-01 08:00:00",
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v UTC", s, got, err, want)
		}
	}
	if got, err := ParseTime("2026-03-01"); err != nil || !got.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseTime(date) = %v, %v", got, err)
	}
	if _, err := ParseTime("03/01/2026"); err == nil {
		t.Error("ParseTime accepted a US date")
	}
}
