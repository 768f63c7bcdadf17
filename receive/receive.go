// Package receive is the webhook receiver behind `export listen`. For each
// delivery it checks the method, the path (one per account) and the body's
// size, verifies the signature (HMAC-SHA256 of the raw body with the
// account's secret) before anything else, and appends the event to the
// account's append-only event log, fsynced, before it answers 2xx: a
// crash after the answer loses nothing, a crash before it makes the sender
// retry. A delivery that fails verification is answered 401, logged with
// the account and the reason, and kept out of the event log (its
// metadata, never its body, goes to a rejects log).
//
// It never opens the warehouse, so it runs beside `export run`; the run
// loads the event log (by event id, exactly once).
package receive

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// MaxBody bounds a delivery's body.
const MaxBody = 1 << 20

// Endpoint is one account's webhook endpoint.
type Endpoint struct {
	Account, Source string
	Path            string
	Secret          []byte
	Header          string // the signature's header
	// EventID names a delivery for loading exactly once.
	EventID func(h http.Header, body []byte) string
}

// Event is one line of an account's event log.
type Event struct {
	ID         string          `json:"id"`
	Account    string          `json:"account"`
	Source     string          `json:"source"`
	ReceivedAt time.Time       `json:"received_at"`
	Body       json.RawMessage `json:"body"`
}

// Rejected is one line of an account's rejects log: a delivery refused
// before it could be trusted (its body is not kept).
type Rejected struct {
	Account    string    `json:"account"`
	ReceivedAt time.Time `json:"received_at"`
	Reason     string    `json:"reason"`
	Remote     string    `json:"remote"`
	Bytes      int       `json:"bytes"`
}

// EventLog is the path of an account's event log under dir (the raw
// archive); RejectLog its rejects.
func EventLog(dir, source, account string) string {
	return filepath.Join(dir, "webhooks", source, account+".events.jsonl")
}

// RejectLog is the path of an account's rejected deliveries.
func RejectLog(dir, source, account string) string {
	return filepath.Join(dir, "webhooks", source, account+".rejected.jsonl")
}

// Receiver is an http.Handler for every account's endpoint.
type Receiver struct {
	dir       string
	endpoints map[string]*Endpoint
	log       *slog.Logger
	now       func() time.Time

	mu    sync.Mutex
	files map[string]*os.File
}

// New makes a receiver writing under dir (the raw archive).
func New(dir string, endpoints []Endpoint, log *slog.Logger) (*Receiver, error) {
	r := &Receiver{dir: dir, endpoints: map[string]*Endpoint{}, log: log, now: time.Now, files: map[string]*os.File{}}
	for i := range endpoints {
		e := &endpoints[i]
		if len(e.Secret) == 0 {
			return nil, fmt.Errorf("account %s: an empty webhook secret", e.Account)
		}
		if _, dup := r.endpoints[e.Path]; dup {
			return nil, fmt.Errorf("account %s: path %s is taken", e.Account, e.Path)
		}
		r.endpoints[e.Path] = e
	}
	return r, nil
}

// Close closes the logs.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, f := range r.files {
		errs = append(errs, f.Close())
	}
	r.files = map[string]*os.File{}
	return errors.Join(errs...)
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	e, ok := r.endpoints[req.URL.Path]
	if !ok {
		http.Error(w, "no webhook endpoint here", http.StatusNotFound)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			r.reject(e, req, len(body), fmt.Sprintf("body over %d bytes", MaxBody))
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	if why := verify(e.Secret, req.Header.Get(e.Header), body); why != "" {
		r.reject(e, req, len(body), why)
		http.Error(w, "signature not verified", http.StatusUnauthorized)
		return
	}
	if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		r.reject(e, req, len(body), "signed, but the body is not a JSON object")
		http.Error(w, "want a JSON object", http.StatusBadRequest)
		return
	}
	ev := Event{ID: e.EventID(req.Header, body), Account: e.Account, Source: e.Source, ReceivedAt: r.now().UTC(), Body: compact(body)}
	if err := r.append(EventLog(r.dir, e.Source, e.Account), ev); err != nil {
		// Not durable: the sender must retry.
		r.log.Error("webhook: could not store the event; answering 503 so that the sender retries", "account", e.Account, "source", e.Source, "error", err)
		http.Error(w, "could not store the event", http.StatusServiceUnavailable)
		return
	}
	r.log.Info("webhook received", "account", e.Account, "source", e.Source, "event", eventName(body), "id", ev.ID)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"received":true}`+"\n")
}

// verify checks the signature header against the body's HMAC-SHA256: hex
// or base64, with or without a "sha256=" prefix. It says why not ("" when
// verified).
func verify(secret []byte, header string, body []byte) string {
	sig := strings.TrimSpace(header)
	if sig == "" {
		return "no signature header"
	}
	if i := strings.IndexByte(sig, '='); i > 0 && strings.EqualFold(sig[:i], "sha256") {
		sig = sig[i+1:]
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, decode := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString, base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString} {
		if got, err := decode(sig); err == nil && len(got) == len(want) {
			if hmac.Equal(got, want) {
				return ""
			}
			return "signature does not match the body (wrong secret, or a body changed on the way)"
		}
	}
	return "signature is not a SHA-256 digest in hex or base64"
}

// append writes one line to a log and fsyncs it.
func (r *Receiver) append(path string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.files[path]
	if f == nil {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return err
		}
		// A receiver killed mid-write leaves a line without its newline
		// (a delivery never acknowledged): end it, so that the next
		// line stands on its own.
		if info, err := f.Stat(); err == nil && info.Size() > 0 {
			last := make([]byte, 1)
			if _, err := f.ReadAt(last, info.Size()-1); err == nil && last[0] != '\n' {
				f.Write([]byte{'\n'})
			}
		}
		r.files[path] = f
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

func (r *Receiver) reject(e *Endpoint, req *http.Request, n int, why string) {
	r.log.Warn("webhook refused", "account", e.Account, "source", e.Source, "reason", why, "remote", req.RemoteAddr)
	if err := r.append(RejectLog(r.dir, e.Source, e.Account), Rejected{Account: e.Account, ReceivedAt: r.now().UTC(), Reason: why, Remote: req.RemoteAddr, Bytes: n}); err != nil {
		r.log.Error("webhook: could not record a refused delivery", "account", e.Account, "error", err)
	}
}

func compact(body []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, body) != nil {
		return body
	}
	return b.Bytes()
}

func eventName(body []byte) string {
	var ev struct {
		Event string `json:"event"`
	}
	json.Unmarshal(body, &ev)
	return ev.Event
}
