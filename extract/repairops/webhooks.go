package repairops

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/listing"
)

// webhooks: the document shows one payload ({event, timestamp, data}) and
// names neither the signature's header nor a delivery id. The header is
// configurable (this is its default); an id is taken from the headers or
// the body when the sender gives one, else the event is named by a hash of
// what it says, so that a redelivery of the same event loads once.
var webhooks = &extract.Webhooks{
	SignatureHeader: "X-RepairOps-Signature",
	EventID:         eventID,
	Resources:       []string{WebhookEvents, WebhookPayments},
	Names:           names,
	Fingerprint:     detailFingerprint,
	// Retried immediately, then after 5 min, 30 min, 2 h and 24 h;
	// disabled after 5 failures.
	RetrySpan: 5*time.Minute + 30*time.Minute + 2*time.Hour + 24*time.Hour,
}

// The archive's names for batches of events: every event
// (webhook_events), and the payments among them.
const (
	WebhookEvents   = "webhooks"
	WebhookPayments = "webhooks/payments"
)

// received is one line of an account's event log, as repairshop-export listen
// writes it.
type received struct {
	ID         string          `json:"id"`
	ReceivedAt string          `json:"received_at"`
	Body       json.RawMessage `json:"body"`
}

// decodeEvents reads a batch of events for one of the two tables: every
// event as it came, or the payments in payment.processed events (the
// payment's own fields, its id as payment_id or id; the event's time
// when it names no processed_at).
func decodeEvents(resource string, body []byte) (extract.Decoded, error) {
	var evs []received
	if err := json.Unmarshal(body, &evs); err != nil {
		return extract.Decoded{}, fmt.Errorf("webhook events: %w", err)
	}
	var recs []json.RawMessage
	for _, ev := range evs {
		if resource == WebhookEvents {
			rec, err := json.Marshal(map[string]any{"id": ev.ID, "received_at": ev.ReceivedAt, "body": ev.Body})
			if err != nil {
				return extract.Decoded{}, err
			}
			recs = append(recs, rec)
			continue
		}
		var e struct {
			Event     string                     `json:"event"`
			Timestamp json.RawMessage            `json:"timestamp"`
			Data      map[string]json.RawMessage `json:"data"`
		}
		if json.Unmarshal(ev.Body, &e) != nil || e.Event != "payment.processed" || e.Data == nil {
			continue
		}
		if _, ok := e.Data["payment_id"]; !ok {
			if id, ok := e.Data["id"]; ok {
				e.Data["payment_id"] = id
				delete(e.Data, "id")
			}
		}
		if _, ok := e.Data["processed_at"]; !ok && len(e.Timestamp) > 0 {
			e.Data["event_timestamp"] = e.Timestamp
		}
		e.Data["event_id"], _ = json.Marshal(ev.ID)
		rec, err := json.Marshal(e.Data)
		if err != nil {
			return extract.Decoded{}, err
		}
		recs = append(recs, rec)
	}
	table := WebhookEventsTable
	if resource == WebhookPayments {
		table = PaymentsTable
	}
	out, err := json.Marshal(recs)
	if err != nil {
		return extract.Decoded{}, err
	}
	if recs == nil {
		out = []byte("[]")
	}
	return extract.Decoded{Table: table, Records: out}, nil
}

// deliveryHeaders are the headers senders commonly name a delivery by.
var deliveryHeaders = []string{"X-RepairOps-Delivery", "X-RepairOps-Event-Id", "X-Webhook-Id", "X-Delivery-Id", "Idempotency-Key"}

func eventID(h http.Header, body []byte) string {
	for _, k := range deliveryHeaders {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			return "delivery:" + v
		}
	}
	var ev struct {
		ID        json.RawMessage `json:"id"`
		EventID   json.RawMessage `json:"event_id"`
		Event     json.RawMessage `json:"event"`
		Timestamp json.RawMessage `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &ev) == nil {
		for _, id := range []json.RawMessage{ev.EventID, ev.ID} {
			if s := strings.Trim(string(id), `" `); s != "" && s != "null" {
				return "event:" + s
			}
		}
		// The same event redelivered: same name, time and data (compacted,
		// so that whitespace does not count).
		var data bytes.Buffer
		if json.Compact(&data, ev.Data) != nil {
			data.Reset()
			data.Write(ev.Data)
		}
		sum := sha256.Sum256([]byte(string(ev.Event) + "|" + string(ev.Timestamp) + "|" + data.String()))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// names: a ticket event names its ticket, a customer event its customer
// (inventory is listed in full every run; a payment names no detail).
func names(body []byte) (resource, id string) {
	var ev struct {
		Event string `json:"event"`
		Data  struct {
			TicketID   json.RawMessage `json:"ticket_id"`
			CustomerID json.RawMessage `json:"customer_id"`
			ID         json.RawMessage `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return "", ""
	}
	str := func(raws ...json.RawMessage) string {
		for _, r := range raws {
			if s := strings.Trim(string(r), `" `); s != "" && s != "null" {
				return s
			}
		}
		return ""
	}
	switch {
	case strings.HasPrefix(ev.Event, "ticket."):
		return Tickets.Name, str(ev.Data.TicketID, ev.Data.ID)
	case strings.HasPrefix(ev.Event, "customer."):
		return Customers.Name, str(ev.Data.CustomerID, ev.Data.ID)
	}
	return "", ""
}

// detailFingerprint is the list fingerprint of a ticket's or customer's
// detail: the detail repeats the list fields the fingerprint reads
// (updated_at, status, total_cost of a ticket). Where it spells one
// differently, the fingerprints differ and the record is fetched once
// more: never less than it should be.
func detailFingerprint(resource string, body []byte) string {
	res, ok := Lookup(resource)
	if !ok || len(res.Fingerprint) == 0 {
		return ""
	}
	rec, err := decodeRecord(body)
	if err != nil {
		return ""
	}
	return listing.Fingerprint(res.Fingerprint, rec)
}
