package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/repairshop/export/schema"
)

// Run statuses in meta.runs.
const (
	StatusRunning = "running"
	StatusOK      = "ok"
	StatusPartial = "partial"
	StatusFailed  = "failed"
)

// AccountResult is what one account's extraction did in a run.
type AccountResult struct {
	Account, Source string
	Requests        int64
	Status          string // ok | partial | failed
	Error           string
}

// TableStats counts what a run did to one table for one account.
type TableStats struct {
	Account, Table                         string
	Received, Inserted, Updated, Unchanged int64
	Rejected                               int64
}

// Summary is a committed run.
type Summary struct {
	RunID    string
	Status   string
	Tables   []TableStats
	Accounts []AccountResult
}

// Totals adds up the table stats.
func (s Summary) Totals() (t TableStats) {
	for _, x := range s.Tables {
		t.Received += x.Received
		t.Inserted += x.Inserted
		t.Updated += x.Updated
		t.Unchanged += x.Unchanged
		t.Rejected += x.Rejected
	}
	return t
}

// BeginRun records a run as running and prepares its staging area. A run
// still "running" in meta.runs after the process is gone was interrupted.
func (w *Warehouse) BeginRun(ctx context.Context, runID string, started time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.exec(ctx, `CREATE OR REPLACE TEMP TABLE stage_rejects (account VARCHAR, table_name VARCHAR, record_key VARCHAR, reason VARCHAR, raw VARCHAR)`)
	if err == nil {
		_, err = w.conn.ExecContext(ctx, `INSERT INTO meta.runs (run_id, started_at, status) VALUES (?, ?, ?)`, runID, started.UTC(), StatusRunning)
	}
	if err != nil {
		return fmt.Errorf("begin run %s: %w", runID, err)
	}
	return nil
}

// sameRow is the condition "staged row s equals stored row t" over the
// business columns (bookkeeping columns excluded, _extra included).
func sameRow(t *schema.Table) string {
	var conds []string
	for _, c := range t.Columns {
		if c.Name == schema.ColExtractedAt || c.Name == schema.ColRunID {
			continue
		}
		q := Quote(c.Name)
		conds = append(conds, fmt.Sprintf("s.%s IS NOT DISTINCT FROM t.%s", q, q))
	}
	return strings.Join(conds, " AND ")
}

func keyJoin(t *schema.Table, a, b string) string {
	conds := make([]string, len(t.Key))
	for i, k := range t.Key {
		conds[i] = fmt.Sprintf("%s.%s = %s.%s", a, Quote(k), b, Quote(k))
	}
	return strings.Join(conds, " AND ")
}

func columnList(t *schema.Table, prefix string) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = prefix + Quote(c.Name)
	}
	return strings.Join(cols, ", ")
}

// partitionExpr gives the (year, month) of a row for the Parquet layout, or
// (0, 0) for tables not partitioned by date.
func partitionExpr(t *schema.Table, alias string) string {
	if t.PartitionBy == "" {
		return "0, 0"
	}
	c := alias + "." + Quote(t.PartitionBy)
	return fmt.Sprintf("year(%s), month(%s)", c, c)
}

// Commit upserts everything staged in this run, records rejects, schema
// drift, per-table and per-account stats and the run's final status, all in
// one transaction. Staged rows that equal their stored row are left alone.
func (w *Warehouse) Commit(ctx context.Context, runID string, finished time.Time, status string, accounts []AccountResult, runErr string) (Summary, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := Summary{RunID: runID, Status: status, Accounts: accounts}
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return sum, fmt.Errorf("commit run %s: begin: %w", runID, err)
	}
	defer tx.Rollback() // no-op after Commit
	stats := map[[2]string]*TableStats{}
	get := func(account, table string) *TableStats {
		k := [2]string{account, table}
		if stats[k] == nil {
			stats[k] = &TableStats{Account: account, Table: table}
		}
		return stats[k]
	}
	for _, name := range w.stagedNames() {
		st := w.staged[name]
		if err := upsertTable(ctx, tx, st, runID, get); err != nil {
			return sum, fmt.Errorf("commit run %s: %s: %w", runID, name, err)
		}
	}
	// Rejects.
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta.rejects SELECT ?, account, table_name, record_key, reason, raw, ? FROM stage_rejects`, runID, finished.UTC()); err != nil {
		return sum, fmt.Errorf("commit run %s: rejects: %w", runID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT account, table_name, count(*) FROM stage_rejects GROUP BY ALL`)
	if err != nil {
		return sum, fmt.Errorf("commit run %s: count rejects: %w", runID, err)
	}
	for rows.Next() {
		var a, t string
		var n int64
		if err := rows.Scan(&a, &t, &n); err != nil {
			rows.Close()
			return sum, fmt.Errorf("commit run %s: count rejects: %w", runID, err)
		}
		get(a, t).Rejected += n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return sum, fmt.Errorf("commit run %s: count rejects: %w", runID, err)
	}
	// Drift: first sighting only.
	for k, ex := range w.drift {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta.schema_drift VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, k.table, k.field, runID, finished.UTC(), ex); err != nil {
			return sum, fmt.Errorf("commit run %s: schema drift: %w", runID, err)
		}
	}
	for _, s := range stats {
		sum.Tables = append(sum.Tables, *s)
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta.run_tables VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			runID, s.Account, s.Table, s.Received, s.Inserted, s.Updated, s.Unchanged, s.Rejected); err != nil {
			return sum, fmt.Errorf("commit run %s: table stats: %w", runID, err)
		}
	}
	sortStats(sum.Tables)
	total := sum.Totals()
	var requests int64
	for _, a := range accounts {
		requests += a.Requests
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta.run_accounts VALUES (?, ?, ?, ?, ?, ?)`,
			runID, a.Account, a.Source, a.Requests, a.Status, nullable(a.Error)); err != nil {
			return sum, fmt.Errorf("commit run %s: account stats: %w", runID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta.runs SET finished_at = ?, status = ?, requests = ?, rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, rows_rejected = ?, error = ? WHERE run_id = ?`,
		finished.UTC(), status, requests, total.Inserted, total.Updated, total.Unchanged, total.Rejected, nullable(runErr), runID); err != nil {
		return sum, fmt.Errorf("commit run %s: run row: %w", runID, err)
	}
	if err := tx.Commit(); err != nil {
		return sum, fmt.Errorf("commit run %s: %w", runID, err)
	}
	w.resetStage(ctx)
	return sum, nil
}

// upsertTable moves one staged table into its warehouse table.
func upsertTable(ctx context.Context, tx *sql.Tx, st *stagedTable, runID string, get func(a, t string) *TableStats) error {
	t := st.table
	target := Quote(t.Source) + "." + Quote(t.Name)
	// Last staged version of each key wins; classify against the stored row.
	classify := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE stage_delta AS
		SELECT s.*, CASE WHEN t.%s IS NULL THEN 'insert' WHEN %s THEN 'same' ELSE 'update' END AS _op
		FROM (SELECT * FROM %s QUALIFY row_number() OVER (PARTITION BY %s ORDER BY rowid DESC) = 1) s
		LEFT JOIN %s t ON %s`,
		Quote(schema.ColAccount), sameRow(t), Quote(st.name), quoteList(t.Key), target, keyJoin(t, "s", "t"))
	if _, err := tx.ExecContext(ctx, classify); err != nil {
		return fmt.Errorf("classify staged rows: %w", err)
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT account, _op, count(*) FROM stage_delta GROUP BY ALL
		UNION ALL SELECT account, 'received', count(*) FROM %s GROUP BY ALL`, Quote(st.name)))
	if err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	for rows.Next() {
		var a, op string
		var n int64
		if err := rows.Scan(&a, &op, &n); err != nil {
			rows.Close()
			return err
		}
		s := get(a, t.FullName())
		switch op {
		case "insert":
			s.Inserted += n
		case "update":
			s.Updated += n
		case "same":
			s.Unchanged += n
		case "received":
			s.Received += n
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	// Partitions to republish: where changed rows are now and where they were.
	queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
		SELECT DISTINCT '%s', account, y, m, ? FROM (
			SELECT d.account, %s FROM stage_delta d WHERE d._op <> 'same'
			UNION ALL
			SELECT t.account, %s FROM %s t JOIN stage_delta d ON %s WHERE d._op = 'update'
		) p(account, y, m) WHERE y IS NOT NULL
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`,
		t.FullName(), partitionExpr(t, "d"), partitionExpr(t, "t"), target, keyJoin(t, "t", "d"))
	if _, err := tx.ExecContext(ctx, queue, runID); err != nil {
		return fmt.Errorf("queue Parquet partitions: %w", err)
	}
	cols := columnList(t, "")
	upsert := fmt.Sprintf(`INSERT OR REPLACE INTO %s (%s) SELECT %s FROM stage_delta WHERE _op <> 'same'`, target, cols, cols)
	if _, err := tx.ExecContext(ctx, upsert); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	return nil
}

func (w *Warehouse) resetStage(ctx context.Context) {
	for _, st := range w.staged {
		w.conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+Quote(st.name))
	}
	w.conn.ExecContext(ctx, "DROP TABLE IF EXISTS stage_delta")
	w.conn.ExecContext(ctx, "DELETE FROM stage_rejects")
	w.staged = map[string]*stagedTable{}
	w.drift = map[driftKey]string{}
}

func sortStats(s []TableStats) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Account != s[j].Account {
			return s[i].Account < s[j].Account
		}
		return s[i].Table < s[j].Table
	})
}
