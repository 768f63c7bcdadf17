package load

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Status is what `repairshop-export status` shows: the recent runs, where each
// account's incremental state stands, what is quarantined and what the
// APIs started sending that no declaration names.
type Status struct {
	Runs           []RunInfo    `json:"runs"`
	Cursors        []CursorInfo `json:"cursors"`
	OpenRejects    int64        `json:"open_rejects"`
	Rejects        []RejectInfo `json:"rejects"`
	Drift          []DriftInfo  `json:"schema_drift"`
	PublishPending int64        `json:"publish_pending"`
	// Details is the detail queue: per account and resource, the details
	// due (new or changed records not yet fetched) and those held.
	Details []DueCount `json:"detail_queue"`
	// Accounts are the accounts' time zones and where they come from.
	Accounts []AccountZone `json:"accounts"`
	// Unmapped are the ticket status labels no status rule names (counted
	// as open): map them with status_groups in the config.
	Unmapped []UnmappedStatus `json:"unmapped_statuses"`
}

// AccountZone is one row of meta.accounts.
type AccountZone struct {
	Account  string `json:"account"`
	Source   string `json:"source"`
	Timezone string `json:"timezone"`
	Basis    string `json:"timezone_basis"`
}

// UnmappedStatus is a status label no rule maps, and how many live
// tickets have it.
type UnmappedStatus struct {
	Source  string `json:"source"`
	Account string `json:"account"`
	Status  string `json:"status"`
	Tickets int64  `json:"tickets"`
}

// RunInfo is one row of meta.runs.
type RunInfo struct {
	RunID       string     `json:"run_id"`
	Kind        string     `json:"kind"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Seconds     *float64   `json:"duration_seconds"`
	Requests    *int64     `json:"requests"`
	Inserted    int64      `json:"rows_inserted"`
	Updated     int64      `json:"rows_updated"`
	Deleted     int64      `json:"rows_deleted"`
	Rejected    int64      `json:"rows_rejected"`
	PublishedAt *time.Time `json:"published_at"`
	Error       string     `json:"error,omitempty"`
}

// CursorInfo is one row of meta.cursors.
type CursorInfo struct {
	Account   string    `json:"account"`
	Resource  string    `json:"resource"`
	Value     string    `json:"value"`
	RunID     string    `json:"run_id"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RejectInfo is one quarantined record not loaded since, with its latest
// reason.
type RejectInfo struct {
	Account   string    `json:"account"`
	Table     string    `json:"table"`
	Key       string    `json:"record_key"`
	Reason    string    `json:"reason"`
	Times     int64     `json:"times_rejected"`
	LastRunID string    `json:"last_run_id"`
	LastAt    time.Time `json:"last_rejected_at"`
}

// DriftInfo is one field first seen in API data that no column declares.
type DriftInfo struct {
	Table       string    `json:"table"`
	Field       string    `json:"field"`
	FirstRunID  string    `json:"first_run_id"`
	FirstSeenAt time.Time `json:"first_seen_at"`
	Example     string    `json:"example"`
	New         bool      `json:"new"` // first seen by the latest run
}

// Status reads the warehouse's meta tables; limit bounds each list.
// unmapped is the query of the unmapped status labels (source, account,
// status, tickets: see model.UnmappedStatuses), run when the warehouse
// has the conformed model; "" reads them from main.tickets.
func (w *Warehouse) Status(ctx context.Context, limit int, unmapped string) (Status, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := Status{Runs: []RunInfo{}, Cursors: []CursorInfo{}, Rejects: []RejectInfo{}, Drift: []DriftInfo{}}
	err := w.scan(ctx, `SELECT run_id, coalesce(kind, 'export'), status, started_at, finished_at, epoch(finished_at - started_at), requests,
			coalesce(rows_inserted, 0), coalesce(rows_updated, 0), coalesce(rows_deleted, 0), coalesce(rows_rejected, 0), published_at, coalesce(error, '')
		FROM meta.runs ORDER BY started_at DESC, run_id DESC LIMIT ?`, []any{limit}, func(rs *sql.Rows) error {
		var r RunInfo
		var fin, pub sql.NullTime
		var secs sql.NullFloat64
		var req sql.NullInt64
		if err := rs.Scan(&r.RunID, &r.Kind, &r.Status, &r.StartedAt, &fin, &secs, &req, &r.Inserted, &r.Updated, &r.Deleted, &r.Rejected, &pub, &r.Error); err != nil {
			return err
		}
		r.StartedAt = r.StartedAt.UTC()
		if fin.Valid {
			t := fin.Time.UTC()
			r.FinishedAt = &t
		}
		if pub.Valid {
			t := pub.Time.UTC()
			r.PublishedAt = &t
		}
		if secs.Valid {
			r.Seconds = &secs.Float64
		}
		if req.Valid {
			r.Requests = &req.Int64
		}
		st.Runs = append(st.Runs, r)
		return nil
	})
	if err == nil {
		err = w.scan(ctx, `SELECT account, resource, value, run_id, updated_at FROM meta.cursors ORDER BY ALL`, nil, func(rs *sql.Rows) error {
			var c CursorInfo
			if err := rs.Scan(&c.Account, &c.Resource, &c.Value, &c.RunID, &c.UpdatedAt); err != nil {
				return err
			}
			c.UpdatedAt = c.UpdatedAt.UTC()
			st.Cursors = append(st.Cursors, c)
			return nil
		})
	}
	if err == nil {
		err = w.conn.QueryRowContext(ctx, `SELECT count(DISTINCT (account, table_name, coalesce(record_key, raw::VARCHAR))) FROM meta.rejects WHERE resolved_run_id IS NULL`).Scan(&st.OpenRejects)
	}
	if err == nil {
		err = w.scan(ctx, `SELECT account, table_name, coalesce(record_key, ''), arg_max(reason, rejected_at), count(*), max(run_id), max(rejected_at)
			FROM meta.rejects WHERE resolved_run_id IS NULL
			GROUP BY account, table_name, record_key, CASE WHEN record_key IS NULL THEN raw::VARCHAR END
			ORDER BY max(rejected_at) DESC, 1, 2, 3 LIMIT ?`, []any{limit}, func(rs *sql.Rows) error {
			var r RejectInfo
			if err := rs.Scan(&r.Account, &r.Table, &r.Key, &r.Reason, &r.Times, &r.LastRunID, &r.LastAt); err != nil {
				return err
			}
			r.LastAt = r.LastAt.UTC()
			st.Rejects = append(st.Rejects, r)
			return nil
		})
	}
	if err == nil {
		err = w.scan(ctx, `SELECT d.table_name, d.field, d.first_run_id, d.first_seen_at, coalesce(d.example, ''),
				d.first_run_id IS NOT DISTINCT FROM (SELECT run_id FROM meta.runs WHERE coalesce(kind, 'export') = 'export' ORDER BY started_at DESC, run_id DESC LIMIT 1)
			FROM meta.schema_drift d ORDER BY d.first_seen_at DESC, 1, 2 LIMIT ?`, []any{limit}, func(rs *sql.Rows) error {
			var d DriftInfo
			if err := rs.Scan(&d.Table, &d.Field, &d.FirstRunID, &d.FirstSeenAt, &d.Example, &d.New); err != nil {
				return err
			}
			d.FirstSeenAt = d.FirstSeenAt.UTC()
			st.Drift = append(st.Drift, d)
			return nil
		})
	}
	if err == nil {
		err = w.conn.QueryRowContext(ctx, `SELECT count(*) FROM meta.publish_queue`).Scan(&st.PublishPending)
	}
	if err == nil {
		st.Details, err = w.detailBacklog(ctx)
	}
	var modelled bool // a warehouse from before the conformed model has neither
	if err == nil {
		err = w.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = 'accounts')
			+ (SELECT count(*) FROM duckdb_views() WHERE schema_name = 'main' AND view_name = 'tickets') = 2`).Scan(&modelled)
	}
	if err == nil && modelled {
		err = w.scan(ctx, `SELECT account, source, coalesce(timezone, 'UTC'), timezone_basis FROM meta.accounts ORDER BY account`, nil, func(rs *sql.Rows) error {
			var a AccountZone
			if err := rs.Scan(&a.Account, &a.Source, &a.Timezone, &a.Basis); err != nil {
				return err
			}
			st.Accounts = append(st.Accounts, a)
			return nil
		})
		if err == nil {
			st.Unmapped, err = w.unmappedStatuses(ctx, limit, unmapped)
		}
	}
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	return st, nil
}

// unmappedStatuses runs the query of the unmapped status labels. A
// warehouse that an older version wrote may lack a table this version's
// parts read, until the next run makes it: the labels then come from the
// warehouse's own main.tickets, as that version created it.
func (w *Warehouse) unmappedStatuses(ctx context.Context, limit int, query string) ([]UnmappedStatus, error) {
	var out []UnmappedStatus
	read := func(query string) error {
		out = nil
		return w.scan(ctx, `SELECT * FROM (`+query+`) ORDER BY 4 DESC, 1, 2, 3 LIMIT ?`, []any{limit}, func(rs *sql.Rows) error {
			var u UnmappedStatus
			if err := rs.Scan(&u.Source, &u.Account, &u.Status, &u.Tickets); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	}
	if query != "" && read(query) == nil {
		return out, nil
	}
	return out, read(`SELECT source, account, status, count(*) FROM main.tickets WHERE NOT status_mapped AND status IS NOT NULL GROUP BY ALL`)
}

func (w *Warehouse) scan(ctx context.Context, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := w.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
