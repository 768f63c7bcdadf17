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

// events loads the account's webhook event log (written by repairshop-export listen)
// from where the last committed run stopped: each batch as one archived
// page per table the source loads events into, the cursor (the log's
// offset after the batch) on the last, so that rows and cursor commit
// together and an event loads once; a redelivered event has the same id,
// the key of the rows. A line still being written (no newline yet) waits
// for the next run; a damaged line (a receiver killed mid-write, never
// acknowledged) is skipped with a warning. The log's segments that the
// committed cursor has passed are removed first: their events are in the
// warehouse and the raw archive.
func (x *account) events(ctx context.Context) error {
	if x.a.Webhook == nil || x.src.Webhooks == nil || x.raw == "" {
		return nil
	}
	path := receive.EventLog(x.raw, x.a.Source, x.a.Name)
	segs, err := receive.Segments(path)
	if err != nil {
		return fmt.Errorf("webhook events: %w", err)
	}
	for len(segs) > 1 && segs[0].End() <= x.eventsAt {
		// Never the newest: repairshop-export listen may be appending to it.
		if err := os.Remove(segs[0].Path); err != nil {
			return fmt.Errorf("webhook events: remove a loaded segment: %w", err)
		}
		x.log.Info("webhook events: removed a segment of the event log already loaded", "segment", segs[0].Path)
		segs = segs[1:]
	}
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
	for i, seg := range segs {
		if seg.End() <= pos && i < len(segs)-1 {
			continue
		}
		if pos < seg.Start {
			x.log.Warn("webhook events: the log no longer holds events before this offset (loaded into another warehouse, whose archive `repairshop-export rebuild` replays); loading from there",
				"loaded_to", pos, "log_from", seg.Start, "segment", seg.Path)
			pos = seg.Start
		}
		newest := i == len(segs)-1
		err := readLines(seg, pos, func(line []byte, complete bool) error {
			if !complete && newest {
				return io.EOF // still being written: the next run loads it
			}
			pos += int64(len(line))
			switch line = bytes.TrimSpace(line); {
			case len(line) == 0:
				return nil
			case !complete || !json.Valid(line):
				damaged++
				return nil
			}
			batch = append(batch, line)
			x.name(line)
			if len(batch) >= EventBatch {
				return flush()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("webhook events: %w", err)
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

// readLines calls fn with each line of a segment from the log offset pos
// on, newline included; complete is false for a last line without one.
// fn may return io.EOF to stop.
func readLines(seg receive.Segment, pos int64, fn func(line []byte, complete bool) error) error {
	f, err := os.Open(seg.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(pos-seg.Start, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				if err := fn(line, false); err != nil && !errors.Is(err, io.EOF) {
					return err
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(line, true); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
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
