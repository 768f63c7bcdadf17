package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/receive"
)

// EventsCursor is the cursor that says how far an account's webhook event
// log is loaded: {"offset": bytes}.
const EventsCursor = "webhooks"

// EventBatch is how many events one archived page holds.
const EventBatch = 500

// EventOffset is how far an EventsCursor value says the log is loaded.
func EventOffset(cursor string) int64 {
	var c struct {
		Offset int64 `json:"offset"`
	}
	json.Unmarshal([]byte(cursor), &c)
	return c.Offset
}

// events loads the account's webhook event log (written by export listen)
// from where the last committed run stopped: each batch as one archived
// page per table the source loads events into, the cursor (the log's
// offset after the batch) on the last, so that rows and cursor commit
// together and an event loads once; a redelivered event has the same id,
// the key of the rows. A line still being written (no newline yet) waits
// for the next run; a damaged line (a receiver killed mid-write, never
// acknowledged) is skipped with a warning.
func (x *account) events(ctx context.Context) error {
	if x.a.Webhook == nil || x.src.Webhooks == nil || x.raw == "" {
		return nil
	}
	path := receive.EventLog(x.raw, x.a.Source, x.a.Name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhook events: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(x.eventsAt, io.SeekStart); err != nil {
		return fmt.Errorf("webhook events: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	pos, loaded, damaged := x.eventsAt, 0, 0
	var batch []json.RawMessage
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		body, err := json.Marshal(batch)
		if err != nil {
			return err
		}
		res := x.src.Webhooks.Resources
		for i, name := range res {
			cursor := ""
			if i == len(res)-1 {
				cursor = fmt.Sprintf(`{"offset":%d}`, pos)
			}
			e := archive.Entry{Resource: name, Kind: archive.KindEvents, FetchedAt: x.clock.Now(), Body: body}
			if err := x.Emit(ctx, extract.Response{Entry: e, Cursor: cursor, CursorKey: EventsCursor}); err != nil {
				return err
			}
		}
		loaded += len(batch)
		batch = batch[:0]
		return nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // nothing more, or a line still being written
		}
		if err != nil {
			return fmt.Errorf("webhook events: %w", err)
		}
		pos += int64(len(line))
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
			continue
		case !json.Valid(line):
			damaged++
			continue
		}
		batch = append(batch, line)
		x.name(line)
		if len(batch) >= EventBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if damaged > 0 {
		x.log.Warn("webhook events: damaged lines skipped (a receiver killed mid-write; those deliveries were never acknowledged, so the sender retried them)", "lines", damaged, "log", path)
	}
	if loaded > 0 {
		x.log.Info("webhook events loaded", "events", loaded, "log", path)
	}
	return nil
}

// name notes the record an event names, for its detail to come first.
func (x *account) name(line []byte) {
	if x.src.Webhooks.Names == nil {
		return
	}
	var ev struct {
		Body json.RawMessage `json:"body"`
	}
	if json.Unmarshal(line, &ev) != nil {
		return
	}
	res, id := x.src.Webhooks.Names(ev.Body)
	if res == "" || id == "" {
		return
	}
	if x.named == nil {
		x.named = map[string][]string{}
	}
	if !slices.Contains(x.named[res], id) {
		x.named[res] = append(x.named[res], id)
	}
}
