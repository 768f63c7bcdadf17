package repairopstest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Webhooks, as the document describes them: a subscribed organisation
// gets an event for each change the simulator makes (ticket.transitioned
// from ChangeTickets, payment.processed from Pay), posted with the
// documented payload {event, timestamp, data}, signed (HMAC-SHA256 of the
// body, hex, in X-RepairOps-Signature: the document names neither, a
// receiver must be told). A delivery that fails is retried on the
// documented schedule (immediately, then 5 min, 30 min, 2 h, 24 h) on the
// server's clock when Deliver is called; after 5 failed attempts the
// endpoint is disabled. Faults deliver duplicates or out of order.

// RetrySchedule is the wait before each attempt after the first.
var RetrySchedule = []time.Duration{0, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 24 * time.Hour}

// SignatureHeader is the header deliveries are signed in.
const SignatureHeader = "X-RepairOps-Signature"

// Currency is the currency of every organisation's payments.
const Currency = "USD"

type hooks struct {
	mu       sync.Mutex
	subs     map[string]*subscription // by organisation
	payments map[string][]payment     // the books, by organisation
	dup      bool
	reorder  bool
}

type subscription struct {
	url, secret string
	disabled    bool
	queue       []*delivery
}

type delivery struct {
	body     []byte
	attempts int
	due      time.Time
}

type payment struct {
	ID, TicketID, Method string
	Cents                int64
	At                   time.Time
}

func (s *Server) hooks() *hooks {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wh == nil {
		s.wh = &hooks{subs: map[string]*subscription{}, payments: map[string][]payment{}}
	}
	return s.wh
}

// Subscribe sends an organisation's events to url, signed with secret.
func (s *Server) Subscribe(org, url, secret string) {
	h := s.hooks()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[org] = &subscription{url: url, secret: secret}
}

// WebhookFaults makes deliveries come twice (dup) or newest first
// (reorder).
func (s *Server) WebhookFaults(dup, reorder bool) {
	h := s.hooks()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dup, h.reorder = dup, reorder
}

// Disabled says whether the organisation's endpoint was disabled after 5
// failed attempts.
func (s *Server) Disabled(org string) bool {
	h := s.hooks()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs[org] != nil && h.subs[org].disabled
}

// Pending counts the deliveries waiting for an attempt.
func (s *Server) Pending(org string) int {
	h := s.hooks()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[org] == nil {
		return 0
	}
	return len(h.subs[org].queue)
}

// queue records an event for the organisation's endpoint, if it has one.
func (s *Server) queue(org, event string, at time.Time, data map[string]any) {
	h := s.hooks()
	h.mu.Lock()
	defer h.mu.Unlock()
	sub := h.subs[org]
	if sub == nil || sub.disabled {
		return
	}
	body, _ := json.Marshal(map[string]any{"event": event, "timestamp": ts(at), "data": data})
	sub.queue = append(sub.queue, &delivery{body: body, due: at})
}

// Pay records a payment against a ticket (the simulator's books) and
// sends payment.processed. It returns the payment's id.
func (s *Server) Pay(org, ticketID string, cents int64, method string, at time.Time) (string, error) {
	s.data.RLock()
	o := s.Org(org)
	var t *ticket
	if o != nil {
		t = o.ticketByID[ticketID]
	}
	s.data.RUnlock()
	if t == nil {
		return "", fmt.Errorf("repairopstest: %s has no ticket %q", org, ticketID)
	}
	h := s.hooks()
	h.mu.Lock()
	id := fmt.Sprintf("pay_%s_%04d", org, len(h.payments[org])+1)
	h.payments[org] = append(h.payments[org], payment{ID: id, TicketID: ticketID, Method: method, Cents: cents, At: at})
	h.mu.Unlock()
	s.queue(org, "payment.processed", at, map[string]any{"payment_id": id, "ticket_id": ticketID, "amount": money(cents),
		"currency": Currency, "method": method, "shop_id": t.ShopID})
	return id, nil
}

// Payments are an organisation's books: how many payments and their total
// ("123.45").
func (s *Server) Payments(org string) (int, string) {
	h := s.hooks()
	h.mu.Lock()
	defer h.mu.Unlock()
	var cents int64
	for _, p := range h.payments[org] {
		cents += p.Cents
	}
	b, _ := money(cents).MarshalJSON()
	return len(h.payments[org]), string(b)
}

// Deliver attempts every delivery due by the server's clock, in order (or
// newest first with the reorder fault), and reschedules the failures. It
// returns how many were accepted (2xx) and how many failed.
func (s *Server) Deliver() (ok, failed int) {
	h := s.hooks()
	now := s.cfg.clock.Now()
	client := &http.Client{Timeout: 2 * time.Second}
	h.mu.Lock()
	subs := map[string]*subscription{}
	for org, sub := range h.subs {
		subs[org] = sub
	}
	dup, reorder := h.dup, h.reorder
	h.mu.Unlock()
	for _, sub := range subs {
		h.mu.Lock()
		var due, later []*delivery
		for _, d := range sub.queue {
			if !d.due.After(now) && !sub.disabled {
				due = append(due, d)
			} else {
				later = append(later, d)
			}
		}
		sub.queue = later
		url, secret := sub.url, sub.secret
		h.mu.Unlock()
		if reorder {
			slices.Reverse(due)
		}
		for _, d := range due {
			times := 1
			if dup {
				times = 2
			}
			var sent bool
			for range times {
				sent = post(client, url, secret, d.body) || sent
			}
			h.mu.Lock()
			if sent {
				ok++
			} else {
				failed++
				d.attempts++
				if d.attempts >= len(RetrySchedule) {
					sub.disabled = true // the document: disabled after 5 failed attempts
				} else {
					d.due = now.Add(RetrySchedule[d.attempts])
					sub.queue = append(sub.queue, d)
				}
			}
			h.mu.Unlock()
		}
	}
	return ok, failed
}

// Sign is a delivery's signature, as the SignatureHeader carries it: the
// body's HMAC-SHA256 under the subscription's secret, in hex.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func post(client *http.Client, url, secret string, body []byte) bool {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(secret, body))
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// Forge posts an event to the organisation's endpoint signed with the
// wrong secret, as an impostor would, and says whether it was accepted.
func (s *Server) Forge(org, event string, data map[string]any) bool {
	h := s.hooks()
	h.mu.Lock()
	sub := h.subs[org]
	h.mu.Unlock()
	if sub == nil {
		return false
	}
	body, _ := json.Marshal(map[string]any{"event": event, "timestamp": ts(s.cfg.clock.Now()), "data": data})
	return post(&http.Client{Timeout: 2 * time.Second}, sub.url, sub.secret+"-not", body)
}
