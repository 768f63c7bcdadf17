package repairops

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/repairshop/export/extract"
)

// webhooks: the document shows one payload ({event, timestamp, data}) and
// names neither the signature's header nor a delivery id. The header is
// configurable (this is its default); an id is taken from the headers or
// the body when the sender gives one, else the event is named by a hash of
// what it says, so that a redelivery of the same event loads once.
var webhooks = &extract.Webhooks{
	SignatureHeader: "X-RepairOps-Signature",
	EventID:         eventID,
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
