package repairops

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestEventIDNamesAnEventTheSameOnEveryDelivery(t *testing.T) {
	body := `{"event":"payment.processed","timestamp":"2026-02-21T15:30:00Z","data":{"payment_id":"p-1","amount":120.5}}`
	spaced := `{ "event": "payment.processed", "timestamp": "2026-02-21T15:30:00Z", "data": { "payment_id": "p-1", "amount": 120.5 } }`
	other := `{"event":"payment.processed","timestamp":"2026-02-21T15:31:00Z","data":{"payment_id":"p-1","amount":120.5}}`
	h := http.Header{}
	if eventID(h, []byte(body)) != eventID(h, []byte(spaced)) {
		t.Error("whitespace changes the id")
	}
	if eventID(h, []byte(body)) == eventID(h, []byte(other)) {
		t.Error("two events at different times share an id")
	}
	if got := eventID(h, []byte(`{"id":"evt_9","event":"x"}`)); got != "event:evt_9" {
		t.Errorf("the body's id: %s", got)
	}
	h.Set("X-Webhook-Id", "d-77")
	if got := eventID(h, []byte(body)); got != "delivery:d-77" {
		t.Errorf("the delivery header: %s", got)
	}
}

// A detail an event named stands for the fingerprint its listing will
// have (the detail repeats the list fields), wrapped in data or not; a
// detail that spells a field otherwise stands for another, so the record
// is fetched once more rather than missed.
func TestADetailStandsForItsListFingerprint(t *testing.T) {
	list := `{"id":"t-1","number":"T001234","status":"IN_REPAIR","customer_name":"John Doe","total_cost":259.99,"updated_at":"2026-02-20T14:15:00Z"}`
	want := Listing(Tickets, json.RawMessage("["+list+"]"))[0].Fingerprint
	for _, c := range []struct {
		name, detail string
		same         bool
	}{
		{"the detail", `{"id":"t-1","status":"IN_REPAIR","customer":{"name":"John Doe"},"timeline":[],"total_cost":259.99,"updated_at":"2026-02-20T14:15:00Z"}`, true},
		{"wrapped in data", `{"data":{"id":"t-1","status":"IN_REPAIR","total_cost":259.99,"updated_at":"2026-02-20T14:15:00Z"}}`, true},
		{"changed since", `{"id":"t-1","status":"QC_REVIEW","total_cost":259.99,"updated_at":"2026-02-21T09:00:00Z"}`, false},
		{"another spelling of the time", `{"id":"t-1","status":"IN_REPAIR","total_cost":259.99,"updated_at":"2026-02-20T14:15:00.000Z"}`, false},
	} {
		if got := detailFingerprint(Tickets.Name, []byte(c.detail)); (got == want) != c.same || got == "" {
			t.Errorf("%s: %q, list %q, want the same: %v", c.name, got, want, c.same)
		}
	}
	if got := detailFingerprint(Inventory.Name, []byte(`{"id":"i-1"}`)); got != "" {
		t.Errorf("inventory has no detail: %q", got)
	}
}
