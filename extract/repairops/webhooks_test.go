package repairops

import (
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
