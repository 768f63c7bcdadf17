package load

import (
	"context"
	"fmt"
	"strings"
	"time"
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

// writeDetails applies the noted listings and fetches in order; the caller
// holds the checkpoint transaction.
func (w *Warehouse) writeDetails(ctx context.Context, runID string) error {
	for _, n := range w.details {
		if n.fetchedID != "" {
			_, err := w.conn.ExecContext(ctx, `INSERT INTO `+w.detailsTable()+` (account, resource, id, list_fingerprint, listed_run, detail_fingerprint, fetched_run, fetched_at, outcome)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT DO UPDATE SET detail_fingerprint = excluded.detail_fingerprint, fetched_run = excluded.fetched_run,
					fetched_at = excluded.fetched_at, outcome = excluded.outcome`,
				n.account, n.resource, n.fetchedID, n.fp, runID, n.fp, runID, n.at.UTC(), n.outcome)
			if err != nil {
				return fmt.Errorf("detail queue: fetched %s/%s %s: %w", n.account, n.resource, n.fetchedID, err)
			}
			continue
		}
		for start := 0; start < len(n.listed); start += 200 {
			chunk := n.listed[start:min(start+200, len(n.listed))]
			vals := make([]string, len(chunk))
			args := make([]any, 0, 6*len(chunk))
			for i, l := range chunk {
				vals[i] = "(?, ?, ?, ?, ?, ?)"
				var created any
				if !l.Created.IsZero() {
					created = l.Created.UTC()
				}
				args = append(args, n.account, n.resource, l.ID, l.Fingerprint, created, runID)
			}
			_, err := w.conn.ExecContext(ctx, `INSERT INTO `+w.detailsTable()+` AS d (account, resource, id, list_fingerprint, created_at, listed_run)
				VALUES `+strings.Join(vals, ", ")+`
				ON CONFLICT DO UPDATE SET list_fingerprint = excluded.list_fingerprint,
					created_at = coalesce(excluded.created_at, d.created_at), listed_run = excluded.listed_run`, args...)
			if err != nil {
				return fmt.Errorf("detail queue: listed %s/%s: %w", n.account, n.resource, err)
			}
		}
	}
	return nil
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
