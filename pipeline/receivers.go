package pipeline

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/receive"
)

// ReceiverInfo is an account's webhook receiver as `repairshop-export status` shows
// it, read from its event and rejects logs.
type ReceiverInfo struct {
	Account string `json:"account"`
	Log     string `json:"event_log"`
	// Received counts the events in the log's files still on disk: a run
	// removes a segment (SegmentBytes) once it has loaded all of it.
	Received int        `json:"events_received"`
	Last     *time.Time `json:"last_event,omitempty"`
	// Waiting are the events received and not loaded yet.
	Waiting int `json:"events_waiting"`
	// Refused counts the refusals the rejects log holds (its latest
	// RejectBytes or so).
	Refused     int        `json:"deliveries_refused"`
	LastRefused *time.Time `json:"last_refused,omitempty"`
	LastReason  string     `json:"last_refused_reason,omitempty"`
	Warning     string     `json:"warning,omitempty"`
}

// Receivers reads the webhook logs of the accounts that have a webhook;
// loaded is, per account, the offset of its log that the warehouse has
// loaded (the EventsCursor), and changed the newest status change the API
// itself reported (its timelines): changes the events never told of,
// for longer than the sender retries, mean deliveries have stopped.
func Receivers(cfg *config.Config, loaded map[string]int64, changed map[string]time.Time, now time.Time) []ReceiverInfo {
	var out []ReceiverInfo
	for _, a := range cfg.Accounts {
		src, ok := sources.Lookup(a.Source)
		if a.Webhook == nil || !ok || src.Webhooks == nil {
			continue
		}
		ri := ReceiverInfo{Account: a.Name, Log: receive.EventLog(cfg.RawDir(), a.Source, a.Name)}
		var err error
		if ri.Received, ri.Waiting, ri.Last, err = scanEvents(ri.Log, loaded[a.Name]); err != nil {
			ri.Warning = err.Error()
		}
		ri.Refused, ri.LastRefused, ri.LastReason = scanRejected(receive.RejectLog(cfg.RawDir(), a.Source, a.Name))
		// Refusals since the last accepted event, for longer than the
		// sender retries: it may have disabled the endpoint.
		if ri.LastRefused != nil && (ri.Last == nil || ri.LastRefused.After(*ri.Last)) {
			since := ri.LastRefused
			if ri.Last != nil {
				since = ri.Last
			}
			if now.Sub(*since) > src.Webhooks.RetrySpan {
				ri.Warning = fmt.Sprintf("deliveries refused and none accepted for %s, longer than %s retries (%s): it may have disabled the endpoint; check the secret and %s's webhook settings",
					now.Sub(*since).Round(time.Hour), src.Title, src.Webhooks.RetrySpan, src.Title)
			}
		}
		if c, ok := changed[a.Name]; ok && ri.Warning == "" {
			var last time.Time
			if ri.Last != nil {
				last = *ri.Last
			}
			if c.Sub(last) > src.Webhooks.RetrySpan {
				ri.Warning = fmt.Sprintf("%s reports status changes up to %s, yet no event came for them (the last at %s): deliveries have stopped; check that the endpoint is enabled in %s's webhook settings and that repairshop-export listen runs",
					src.Title, c.UTC().Format(time.RFC3339), lastOrNever(ri.Last), src.Title)
			}
		}
		out = append(out, ri)
	}
	return out
}

func lastOrNever(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// scanEvents reads the event log's segments still on disk (those the
// warehouse has not loaded, and the newest).
func scanEvents(path string, loaded int64) (received, waiting int, last *time.Time, err error) {
	segs, err := receive.Segments(path)
	if err != nil {
		return 0, 0, nil, err
	}
	for _, seg := range segs {
		pos := seg.Start
		err := readLines(seg, seg.Start, func(line []byte, complete bool) error {
			var ev receive.Event
			if complete && json.Unmarshal(line, &ev) == nil {
				received++
				if pos >= loaded {
					waiting++
				}
				at := ev.ReceivedAt
				last = &at
			}
			pos += int64(len(line))
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) { // removed by a run meanwhile
			return received, waiting, last, err
		}
	}
	return received, waiting, last, nil
}

// scanRejected reads the rejects log and, before it, its older file.
func scanRejected(path string) (n int, last *time.Time, reason string) {
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r receive.Rejected
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				n++
				at := r.ReceivedAt
				last, reason = &at, r.Reason
			}
		}
		f.Close()
	}
	return n, last, reason
}
