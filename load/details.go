package load

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The detail queue (meta.details) remembers, per record of a resource with
// a detail endpoint, the list fingerprint last listed and the one its
// detail was fetched for. A record is due when they differ: new, changed
// since, or never fetched because a run ran out of budget. It is written in
// the checkpoint transaction with the rows, so a crash never marks a detail
// fetched that the warehouse does not hold.

const detailsDDL = `CREATE TABLE IF NOT EXISTS meta.details (
	account VARCHAR NOT NULL,
	resource VARCHAR NOT NULL,
	id VARCHAR NOT NULL,
	list_fingerprint VARCHAR NOT NULL,
	created_at TIMESTAMPTZ,
	listed_run VARCHAR NOT NULL,
	detail_fingerprint VARCHAR,
	fetched_run VARCHAR,
	fetched_at TIMESTAMPTZ,
	outcome VARCHAR, -- ok | not_found
	PRIMARY KEY (account, resource, id)
)`

// Listed is a record seen on a list page.
type Listed struct {
	ID, Fingerprint string
	Created         time.Time // zero if unknown
}

// Due is a record whose detail is to be fetched.
type Due struct {
	ID, Fingerprint string
	Created         time.Time
	// Changed is set when an earlier detail was fetched (the record
	// changed since), clear for a record never fetched.
	Changed bool
}

// Detail outcomes in meta.details.
const (
	DetailOK       = "ok"
	DetailNotFound = "not_found" // listed, but the detail endpoint said 404
)

type detailNote struct {
	account, resource string
	listed            []Listed
	fetchedID, fp     string
	outcome           string
	at                time.Time
}

// NoteListed records (at the next checkpoint) the records of a list page
// of a resource with a detail endpoint.
func (w *Warehouse) NoteListed(account, resource string, recs []Listed) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.details = append(w.details, detailNote{account: account, resource: resource, listed: recs})
}

// NoteFetched records (at the next checkpoint, with the staged detail)
// that a record's detail was fetched for list fingerprint fp.
func (w *Warehouse) NoteFetched(account, resource, id, fp, outcome string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.details = append(w.details, detailNote{account: account, resource: resource, fetchedID: id, fp: fp, outcome: outcome, at: at})
}

// writeDetails applies the noted listings and fetches; the caller holds
// the checkpoint transaction. They are folded per record first and
// written in two statements, each over one Arrow record of the notes (a
// VALUES list of 500 rows took 40 to 60 ms to plan, most of a small
// checkpoint):
// listings first, each record's last fingerprint and its last known
// creation time, then fetches, each record's last. That is what applying
// them one by one in order gives, since a fetch never changes the list
// fingerprint of a record already listed, and a listing never changes
// what a fetch recorded; a record fetched and never listed is created
// with the fingerprint of its first fetch, as it would be one by one.
func (w *Warehouse) writeDetails(ctx context.Context, runID string) error {
	type key struct{ account, resource, id string }
	type listed struct {
		fp      string
		created time.Time
	}
	type fetched struct {
		first, last, outcome string
		at                   time.Time
	}
	var listOrder, fetchOrder []key
	lists, fetches := map[key]*listed{}, map[key]*fetched{}
	for _, n := range w.details {
		if n.fetchedID != "" {
			k := key{n.account, n.resource, n.fetchedID}
			f := fetches[k]
			if f == nil {
				f = &fetched{first: n.fp}
				fetches[k] = f
				fetchOrder = append(fetchOrder, k)
			}
			f.last, f.outcome, f.at = n.fp, n.outcome, n.at
			continue
		}
		for _, l := range n.listed {
			k := key{n.account, n.resource, l.ID}
			x := lists[k]
			if x == nil {
				x = &listed{}
				lists[k] = x
				listOrder = append(listOrder, k)
			}
			x.fp = l.Fingerprint
			if !l.Created.IsZero() {
				x.created = l.Created
			}
		}
	}
	if len(listOrder) > 0 {
		b := newNoteRows("account", "resource", "id", "list_fingerprint", "listed_run")
		for _, k := range listOrder {
			x := lists[k]
			b.add(x.created, k.account, k.resource, k.id, x.fp, runID)
		}
		rec := b.record()
		defer rec.Release()
		if _, err := w.execArrow(ctx, rec, func(notes string) string {
			return `INSERT INTO ` + w.detailsTable() + ` AS d (account, resource, id, list_fingerprint, listed_run, created_at)
				SELECT account, resource, id, list_fingerprint, listed_run, noted_at FROM ` + notes + `
				ON CONFLICT DO UPDATE SET list_fingerprint = excluded.list_fingerprint,
					created_at = coalesce(excluded.created_at, d.created_at), listed_run = excluded.listed_run`
		}); err != nil {
			return fmt.Errorf("detail queue: listed: %w", err)
		}
	}
	if len(fetchOrder) > 0 {
		b := newNoteRows("account", "resource", "id", "list_fingerprint", "listed_run", "detail_fingerprint", "fetched_run", "outcome")
		for _, k := range fetchOrder {
			f := fetches[k]
			b.add(f.at, k.account, k.resource, k.id, f.first, runID, f.last, runID, f.outcome)
		}
		rec := b.record()
		defer rec.Release()
		if _, err := w.execArrow(ctx, rec, func(notes string) string {
			return `INSERT INTO ` + w.detailsTable() + ` (account, resource, id, list_fingerprint, listed_run, detail_fingerprint, fetched_run, fetched_at, outcome)
				SELECT account, resource, id, list_fingerprint, listed_run, detail_fingerprint, fetched_run, noted_at, outcome FROM ` + notes + `
				ON CONFLICT DO UPDATE SET detail_fingerprint = excluded.detail_fingerprint, fetched_run = excluded.fetched_run,
					fetched_at = excluded.fetched_at, outcome = excluded.outcome`
		}); err != nil {
			return fmt.Errorf("detail queue: fetched: %w", err)
		}
	}
	return nil
}

// noteRows builds the detail queue's notes as one Arrow record: string
// columns, and a time (noted_at; NULL when zero).
type noteRows struct {
	names []string
	cols  []*array.StringBuilder
	at    *array.TimestampBuilder
}

var noteTime = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func newNoteRows(names ...string) *noteRows {
	b := &noteRows{names: names, at: array.NewTimestampBuilder(memory.DefaultAllocator, noteTime)}
	for range names {
		b.cols = append(b.cols, array.NewStringBuilder(memory.DefaultAllocator))
	}
	return b
}

func (b *noteRows) add(at time.Time, vals ...string) {
	if at.IsZero() {
		b.at.AppendNull()
	} else {
		b.at.Append(arrow.Timestamp(at.UnixMicro()))
	}
	for i, v := range vals {
		b.cols[i].Append(v)
	}
}

// record is the rows added, and releases the builders.
func (b *noteRows) record() arrow.RecordBatch {
	fields := make([]arrow.Field, 0, len(b.names)+1)
	cols := make([]arrow.Array, 0, len(b.names)+1)
	for i, n := range b.names {
		fields = append(fields, arrow.Field{Name: n, Type: arrow.BinaryTypes.String})
		cols = append(cols, b.cols[i].NewArray())
		b.cols[i].Release()
	}
	fields = append(fields, arrow.Field{Name: "noted_at", Type: noteTime, Nullable: true})
	cols = append(cols, b.at.NewArray())
	b.at.Release()
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(cols[0].Len()))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// DetailState returns, for an account's resource, the list fingerprint each
// record's detail was last fetched for (by id), and the records due as of
// the last committed run, newest first.
func (w *Warehouse) DetailState(ctx context.Context, account, resource string) (map[string]string, []Due, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rows, err := w.conn.QueryContext(ctx, `SELECT id, list_fingerprint, coalesce(detail_fingerprint, ''), created_at FROM meta.details
		WHERE account = ? AND resource = ? ORDER BY created_at DESC NULLS LAST, id DESC`, account, resource)
	if err != nil {
		return nil, nil, fmt.Errorf("read detail queue %s/%s: %w", account, resource, err)
	}
	defer rows.Close()
	fetched := map[string]string{}
	var due []Due
	for rows.Next() {
		var id, listFP, detailFP string
		var created *time.Time
		if err := rows.Scan(&id, &listFP, &detailFP, &created); err != nil {
			return nil, nil, fmt.Errorf("read detail queue %s/%s: %w", account, resource, err)
		}
		if detailFP != "" {
			fetched[id] = detailFP
		}
		if listFP != detailFP {
			d := Due{ID: id, Fingerprint: listFP, Changed: detailFP != ""}
			if created != nil {
				d.Created = *created
			}
			due = append(due, d)
		}
	}
	return fetched, due, rows.Err()
}

// DueCount is how many details an account's resource has due.
type DueCount struct {
	Account  string `json:"account"`
	Resource string `json:"resource"`
	Due      int64  `json:"due"`
	Fetched  int64  `json:"fetched"`
}

// DetailBacklog counts due and fetched details per account and resource.
func (w *Warehouse) DetailBacklog(ctx context.Context) ([]DueCount, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.detailBacklog(ctx)
}

func (w *Warehouse) detailBacklog(ctx context.Context) ([]DueCount, error) {
	rows, err := w.conn.QueryContext(ctx, `SELECT account, resource,
		count(*) FILTER (WHERE detail_fingerprint IS DISTINCT FROM list_fingerprint),
		count(*) FILTER (WHERE detail_fingerprint IS NOT NULL)
		FROM meta.details GROUP BY ALL ORDER BY ALL`)
	if err != nil {
		return nil, fmt.Errorf("read detail queue: %w", err)
	}
	defer rows.Close()
	var out []DueCount
	for rows.Next() {
		var d DueCount
		if err := rows.Scan(&d.Account, &d.Resource, &d.Due, &d.Fetched); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
