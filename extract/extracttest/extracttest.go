// Package extracttest runs a source's sync tasks without a warehouse: a
// Recorder is the emitter, keeping every response the tasks send, and
// Stored stands in for what a warehouse holds (cursors, column values).
// With a source's simulator behind the session, a test drives the real
// algorithm — listing order, cursors, windows, watermarks — and reads what
// it would have committed.
package extracttest

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/schema"
)

// Recorder is an extract.Emitter that keeps what it is given.
type Recorder struct {
	mu        sync.Mutex
	Responses []extract.Response
	// Tasks are the names of the tasks run, in order (see Run).
	Tasks []string
}

// Emit keeps r.
func (r *Recorder) Emit(_ context.Context, resp extract.Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Responses = append(r.Responses, resp)
	return nil
}

// Cursors are the cursors as committing every response would leave them.
func (r *Recorder) Cursors() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, resp := range r.Responses {
		if resp.Cursor == "" {
			continue
		}
		key := resp.CursorKey
		if key == "" {
			key = resp.Entry.Resource
		}
		out[key] = resp.Cursor
	}
	return out
}

// Of are the responses of one resource, in order.
func (r *Recorder) Of(resource string) []extract.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []extract.Response
	for _, resp := range r.Responses {
		if resp.Entry.Resource == resource {
			out = append(out, resp)
		}
	}
	return out
}

// Run runs a session's tasks in order until one fails, and returns what
// they emitted and the error that stopped them (with the task's name).
func Run(ctx context.Context, s extract.Session, st extract.Stored) (*Recorder, error) {
	rec := &Recorder{}
	tasks, err := s.Tasks(ctx, st)
	if err != nil {
		return rec, err
	}
	for _, t := range tasks {
		rec.Tasks = append(rec.Tasks, t.Name)
		if err := t.Run(ctx, rec); err != nil {
			return rec, &TaskError{Task: t.Name, Err: err}
		}
	}
	return rec, nil
}

// TaskError is a task's failure.
type TaskError struct {
	Task string
	Err  error
}

func (e *TaskError) Error() string { return e.Task + ": " + e.Err.Error() }
func (e *TaskError) Unwrap() error { return e.Err }

// Stored is a warehouse's content as a session reads it.
type Stored struct {
	// Committed are the committed cursors by name.
	Committed map[string]string
	// Columns are column values by "table.column" ("repairops.tickets.shop_id").
	Columns map[string][]string
}

var _ extract.Stored = Stored{}

// Cursor is the committed cursor name ("" if none).
func (s Stored) Cursor(name string) string { return s.Committed[name] }

// Cursors are the committed cursors whose name starts with prefix.
func (s Stored) Cursors(prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range s.Committed {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// Values are the distinct values of a column, sorted.
func (s Stored) Values(_ context.Context, t *schema.Table, column string) ([]string, error) {
	v := slices.Clone(s.Columns[t.FullName()+"."+column])
	slices.Sort(v)
	return slices.Compact(v), nil
}

// After is what a warehouse holds once everything rec emitted is
// committed: the cursors moved on (column values stay as they were).
func (s Stored) After(rec *Recorder) Stored {
	next := Stored{Committed: map[string]string{}, Columns: s.Columns}
	for k, v := range s.Committed {
		next.Committed[k] = v
	}
	for k, v := range rec.Cursors() {
		next.Committed[k] = v
	}
	return next
}
