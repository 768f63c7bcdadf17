// Package load writes transformed records into the DuckDB warehouse and
// publishes Parquet files from it.
//
// Rows are staged as they arrive (Arrow record → temp table, so memory stays
// bounded), then upserted into their tables in one transaction together with
// the run's meta rows, so a reader or a crash never sees half a run. Rows
// whose business columns did not change keep their run_id and extracted_at:
// re-running over the same data changes nothing.
package load

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/repairshop/export/schema"
)

// Warehouse is an open DuckDB file. One Warehouse uses one connection: the
// staging tables are temporary, bound to it. Methods are safe for concurrent
// use (calls are serialised).
type Warehouse struct {
	path  string
	db    *sql.DB
	conn  *sql.Conn
	arrow *duckdb.Arrow
	// tracing: each statement that takes traceOver or more is traced
	// (see SQLTraceEnv).
	tracing   bool
	traceOver time.Duration

	mu sync.Mutex
	// tables are the declarations Ensure made, by qualified name.
	tables   map[string]*schema.Table
	staged   map[string]*stagedTable // by qualified table name
	drift    map[driftKey]string
	cursors  map[[2]string]string // (account, resource) → value, pending
	archived map[string]archiveMark
	details  []detailNote              // meta.details changes, pending
	stats    map[[2]string]*TableStats // this run's, cumulative
	// written are the stats as the last checkpoint wrote them.
	written map[[2]string]TableStats
	// openRejects are the tables with rejects earlier runs left unresolved.
	openRejects map[string]bool
	viewSeq     int
	// pendingRows counts the rows staged in Go, not yet flushed to DuckDB.
	pendingRows int64
	// stagedRows counts the rows staged since the last checkpoint.
	stagedRows int64
	hook       func(point string)
	rebuild    *rebuildState // a rebuild in progress
	// completes and gones are the deletes staged (see MarkComplete,
	// MarkGone).
	completes []completion
	gones     []gone
	// runTables are the tables (full names) whose run tables this run has
	// made (see runTable).
	runTables map[string]bool
	// zones are the accounts' zones noted from their timestamps, pending.
	zones map[string]string
	// dayZones are the zones meta.local_day was last defined with here
	// (defineLocalDay), newline-separated; "" before it is.
	dayZones string
}

type stagedTable struct {
	table *schema.Table
	name  string // temp table name: the table's columns, _batch and _partial
	// parents, for a child table, is the temp table of parent ids whose
	// arrays were carried (account, parent_id, _batch).
	parents string
	// pending are the records staged since the last flush, each with its
	// _batch and _partial columns, and pendingParents the parent ids: they
	// reach DuckDB in one round per flush, not one per page.
	pending        []arrow.RecordBatch
	pendingParents []any // account, parent_id, _batch, …
	// small is how many of pending's last records are small pages not yet
	// joined into one (see compact).
	small int
	// created says the staging tables exist: a table's first flush with
	// rows or parents creates them (see createStaging).
	created bool
	// schema is the pages' schema with the staging columns, for pages of
	// schema schemaOf (see stagedSchema).
	schemaOf, schema *arrow.Schema
	// delta and counted are the temp tables a checkpoint classifies the
	// staged rows into (see prepare), received the rows staged per
	// account, ops the delta's rows per operation (see has).
	delta, counted string
	received       map[string]int64
	ops            map[string]int64
}

// The operations of a delta's rows (its _op column).
const (
	opInsert = "insert"
	opUpdate = "update"
	opSame   = "same"
	opDelete = "delete"
)

// has says whether the table's delta holds a row of any of the ops.
func (st *stagedTable) has(ops ...string) bool {
	for _, op := range ops {
		if st.ops[op] > 0 {
			return true
		}
	}
	return false
}

type driftKey struct{ table, field string }

// Open opens (creating if needed) the warehouse file and its meta tables.
// Every connection runs in UTC so that date parts of TIMESTAMPTZ values (the
// Parquet partitions) never depend on the machine's zone.
func Open(ctx context.Context, path string) (*Warehouse, error) {
	return open(ctx, path, readWrite)
}

// OpenReadOnly opens an existing warehouse for queries; it can run beside
// other readers and never changes the file, with one exception: DuckDB
// cannot replay, read-only, a write-ahead log that drops a table written
// to the file (a killed rebuild leaves one). Then, if no process holds the
// warehouse for writing, it is opened for writing once, which replays the
// log into the file as the next run would, and opened read-only again.
func OpenReadOnly(ctx context.Context, path string) (*Warehouse, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open warehouse: %w (run `repairshop-export run` first)", err)
	}
	w, err := open(ctx, path, readOnly)
	if err == nil || !strings.Contains(err.Error(), "replaying WAL") {
		return w, err
	}
	lock, lerr := AcquireLock(path, "replay the write-ahead log", time.Now())
	if lerr != nil {
		return nil, err
	}
	defer lock.Release()
	rw, rerr := open(ctx, path, readWrite)
	if rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	if rerr = rw.Close(); rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	return open(ctx, path, readOnly)
}

// OpenScratch opens an empty in-memory warehouse with the meta tables:
// for describing tables and views without a file.
func OpenScratch(ctx context.Context) (*Warehouse, error) {
	w, err := open(ctx, "", inMemory)
	if err == nil {
		if err = w.exec(ctx, metaDDL...); err != nil {
			w.Close()
		}
	}
	return w, err
}

// Describe lists a table's or view's columns and their types.
func (w *Warehouse) Describe(ctx context.Context, schemaName, name string) ([][2]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out [][2]string
	err := w.scanRows(ctx, fmt.Sprintf(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position`,
		sqlString(schemaName), sqlString(name)), func(r *sql.Rows) error {
		var c [2]string
		if err := r.Scan(&c[0], &c[1]); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// openMode is how open treats the file.
type openMode int

const (
	readWrite openMode = iota // the meta tables are created if missing
	readOnly
	inMemory // no file: a scratch database (path is ignored)
)

func open(ctx context.Context, path string, mode openMode) (*Warehouse, error) {
	dsn := path
	switch mode {
	case readOnly:
		dsn += "?access_mode=read_only"
	case inMemory:
		dsn = ""
	}
	limit, err := memoryLimit(path)
	if err != nil {
		return nil, err
	}
	traceOver, tracing, err := sqlTrace()
	if err != nil {
		return nil, err
	}
	connector, err := duckdb.NewConnector(dsn, func(ex driver.ExecerContext) error {
		_, err := ex.ExecContext(ctx, "SET TimeZone = 'UTC'", nil)
		if err == nil && mode == readWrite {
			_, err = ex.ExecContext(ctx, "SET memory_limit = '"+limit+"'", nil)
		}
		if err == nil {
			// A partitioned COPY (Publish) buffers this many rows per thread
			// before it writes: 512k by default, a few hundred MB of rows.
			_, err = ex.ExecContext(ctx, "SET partitioned_write_flush_threshold = 65536", nil)
		}
		if err == nil {
			// DuckDB's allocator hands freed memory back to the system
			// past 16 MB rather than 128 (and from background threads):
			// a rebuild of a million tickets peaked 130 MB lower.
			_, err = ex.ExecContext(ctx, "SET allocator_flush_threshold = '16MB'", nil)
		}
		if err == nil {
			_, err = ex.ExecContext(ctx, "SET allocator_background_threads = true", nil)
		}
		if n, ok := threads(); ok && err == nil {
			_, err = ex.ExecContext(ctx, fmt.Sprintf("SET threads = %d", n), nil)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open warehouse %s: %w", path, lockHint(err))
	}
	db := sql.OpenDB(connector)
	w := &Warehouse{path: path, db: db, tables: map[string]*schema.Table{}, staged: map[string]*stagedTable{}, drift: map[driftKey]string{},
		cursors: map[[2]string]string{}, archived: map[string]archiveMark{}, stats: map[[2]string]*TableStats{},
		tracing: tracing, traceOver: traceOver}
	if w.conn, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open warehouse %s: %w", path, lockHint(err))
	}
	err = w.conn.Raw(func(dc any) error {
		var err error
		w.arrow, err = duckdb.NewArrowFromConn(dc.(driver.Conn))
		return err
	})
	if err == nil && mode == readWrite {
		err = w.exec(ctx, metaDDL...)
	}
	if err == nil && mode == readWrite {
		err = w.exec(ctx, `CREATE TEMP TABLE stage_rejects (account VARCHAR, table_name VARCHAR, record_key VARCHAR, reason VARCHAR, raw VARCHAR)`)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open warehouse %s: %w", path, err)
	}
	return w, nil
}

// DuckDB's own memory is capped: an export runs beside the shop's other
// work on small hosts, and its checkpoints are bounded in rows, so more
// would only be cache; what does not fit spills to the temporary directory
// beside the warehouse (<warehouse>.tmp). What it cannot spill are the
// tables' primary-key indexes, which grow with the rows, and a
// checkpoint's per-table transaction state (about 2.5 MB for each table it
// writes, whatever its rows: some 80 MB when a checkpoint touches every
// table of both sources), so the cap is MinMemoryLimit or half the
// warehouse file's size, whichever is larger. EXPORT_MEMORY_LIMIT (e.g.
// 2GB) sets it outright.
const MinMemoryLimit = 256 << 20

var memorySize = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)

func memoryLimit(path string) (string, error) {
	if v := strings.TrimSpace(os.Getenv("EXPORT_MEMORY_LIMIT")); v != "" {
		if !memorySize.MatchString(v) {
			return "", fmt.Errorf("EXPORT_MEMORY_LIMIT=%q: want a size such as 512MB or 2GB", v)
		}
		return v, nil
	}
	limit := int64(MinMemoryLimit)
	if info, err := os.Stat(path); err == nil {
		limit = max(limit, info.Size()/2)
	}
	return fmt.Sprintf("%dMiB", limit>>20), nil
}

// ThreadsEnv names the variable that sets how many threads DuckDB uses
// (default: one per core).
const ThreadsEnv = "EXPORT_THREADS"

// threads is ThreadsEnv's value, if it is a positive number.
func threads() (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(os.Getenv(ThreadsEnv)))
	return n, err == nil && n > 0
}

// ErrBusy marks an open refused because another process has the
// warehouse file open for writing (DuckDB then admits no other process,
// not even a reader).
var ErrBusy = errors.New("the warehouse is busy")

// lockHint makes DuckDB's file-lock error say what to do.
func lockHint(err error) error {
	if err != nil && strings.Contains(err.Error(), "lock") {
		return fmt.Errorf("%w (%w: another process, probably a running export, has it open; wait for it to finish)", err, ErrBusy)
	}
	return err
}

// Flush writes what the write-ahead log holds into the warehouse file
// (CHECKPOINT). DuckDB does it on close too, but there a failure (a full
// disk, a file-size limit) is silent: the data is safe in the WAL, yet
// the file did not grow. Here it is an error the run reports.
func (w *Warehouse) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.execSQL(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("write the warehouse file %s (a full disk or a file-size limit?); what was committed is safe in its write-ahead log %s.wal: %w", w.path, w.path, err)
	}
	return nil
}

// Close releases the connection and the file.
func (w *Warehouse) Close() error {
	var errs []error
	if w.conn != nil {
		errs = append(errs, w.conn.Close())
	}
	errs = append(errs, w.db.Close())
	return errors.Join(errs...)
}

func (w *Warehouse) exec(ctx context.Context, stmts ...string) error {
	for _, s := range stmts {
		if _, err := w.execSQL(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}

var metaDDL = []string{
	`CREATE SCHEMA IF NOT EXISTS meta`,
	`CREATE TABLE IF NOT EXISTS meta.runs (
		run_id VARCHAR PRIMARY KEY,
		started_at TIMESTAMPTZ NOT NULL,
		finished_at TIMESTAMPTZ,
		status VARCHAR NOT NULL, -- running | ok | partial | failed | interrupted
		requests BIGINT,
		rows_inserted BIGINT,
		rows_updated BIGINT,
		rows_unchanged BIGINT,
		rows_rejected BIGINT,
		error VARCHAR
	)`,
	`CREATE TABLE IF NOT EXISTS meta.run_tables (
		run_id VARCHAR NOT NULL,
		account VARCHAR NOT NULL,
		table_name VARCHAR NOT NULL,
		rows_received BIGINT NOT NULL,
		rows_inserted BIGINT NOT NULL,
		rows_updated BIGINT NOT NULL,
		rows_unchanged BIGINT NOT NULL,
		rows_rejected BIGINT NOT NULL,
		PRIMARY KEY (run_id, account, table_name)
	)`,
	`CREATE TABLE IF NOT EXISTS meta.run_accounts (
		run_id VARCHAR NOT NULL,
		account VARCHAR NOT NULL,
		source VARCHAR NOT NULL,
		requests BIGINT NOT NULL,
		status VARCHAR NOT NULL,
		error VARCHAR,
		PRIMARY KEY (run_id, account)
	)`,
	`CREATE TABLE IF NOT EXISTS meta.rejects (
		run_id VARCHAR NOT NULL,
		account VARCHAR NOT NULL,
		table_name VARCHAR NOT NULL,
		record_key VARCHAR,
		reason VARCHAR NOT NULL,
		raw JSON,
		rejected_at TIMESTAMPTZ NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS meta.schema_drift (
		table_name VARCHAR NOT NULL,
		field VARCHAR NOT NULL,
		first_run_id VARCHAR NOT NULL,
		first_seen_at TIMESTAMPTZ NOT NULL,
		example VARCHAR,
		PRIMARY KEY (table_name, field)
	)`,
	// Partitions whose Parquet files must be (re)written: filled in the same
	// transaction as the rows, emptied as each partition is published, so a
	// crash between commit and publish is repaired by the next run.
	// (table, account) pairs the lake has not taken yet: filled with the
	// publish queue, emptied as the lake commits each table.
	`CREATE TABLE IF NOT EXISTS meta.lake_queue (
		table_name VARCHAR NOT NULL,
		account VARCHAR NOT NULL,
		run_id VARCHAR NOT NULL,
		PRIMARY KEY (table_name, account)
	)`,
	`CREATE TABLE IF NOT EXISTS meta.publish_queue (
		table_name VARCHAR NOT NULL,
		account VARCHAR NOT NULL,
		year INTEGER NOT NULL,
		month INTEGER NOT NULL,
		run_id VARCHAR NOT NULL,
		PRIMARY KEY (table_name, account, year, month)
	)`,
	// Incremental positions, written in the same transaction as the rows
	// they cover: a crash can never leave a cursor ahead of its data.
	`CREATE TABLE IF NOT EXISTS meta.cursors (
		account VARCHAR NOT NULL,
		resource VARCHAR NOT NULL,
		value VARCHAR NOT NULL,
		run_id VARCHAR NOT NULL,
		updated_at TIMESTAMPTZ NOT NULL,
		PRIMARY KEY (account, resource)
	)`,
	// How many pages of each raw archive file are committed here; rebuild
	// replays exactly those.
	`CREATE TABLE IF NOT EXISTS meta.raw_archive (
		file VARCHAR PRIMARY KEY,
		run_id VARCHAR NOT NULL,
		account VARCHAR NOT NULL,
		pages_committed BIGINT NOT NULL
	)`,
	detailsDDL,
	// Each configured account: its source and time zone (see SetAccounts).
	`CREATE TABLE IF NOT EXISTS meta.accounts (
		account VARCHAR PRIMARY KEY,
		source VARCHAR NOT NULL,
		timezone VARCHAR, -- an IANA name or UTC±hh:mm; NULL: UTC
		timezone_basis VARCHAR NOT NULL
	)`,
	// Which status labels mean open, waiting, done or cancelled: account
	// '*' are the defaults, an account's own rows win over them.
	`CREATE TABLE IF NOT EXISTS meta.status_groups (
		account VARCHAR NOT NULL,
		label VARCHAR NOT NULL, -- lower(trim(replace(label, '_', ' ')))
		status_group VARCHAR NOT NULL,
		PRIMARY KEY (account, label)
	)`,
	// Columns added after the first release (warehouses only ever gain columns).
	`ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS kind VARCHAR DEFAULT 'export'`,
	`ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS checkpointed_at TIMESTAMPTZ`,
	`ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS rows_deleted BIGINT`,
	`ALTER TABLE meta.runs ADD COLUMN IF NOT EXISTS published_at TIMESTAMPTZ`,
	`ALTER TABLE meta.run_tables ADD COLUMN IF NOT EXISTS rows_deleted BIGINT DEFAULT 0`,
	`ALTER TABLE meta.accounts ADD COLUMN IF NOT EXISTS currency VARCHAR`, // ISO 4217, from the config
	`ALTER TABLE meta.rejects ADD COLUMN IF NOT EXISTS resolved_run_id VARCHAR`,
}

// Quote quotes an identifier for DuckDB.
func Quote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// quoteList quotes identifiers and joins them with commas.
func quoteList(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = Quote(id)
	}
	return strings.Join(q, ", ")
}

// TableDDL is the CREATE TABLE statement of a declared table.
func TableDDL(t *schema.Table) string {
	return tableDDL(t, "CREATE TABLE IF NOT EXISTS "+quotedName(t), true)
}

// tableDDL is create (the statement up to the table's name) with t's
// columns, and its primary key if keyed.
func tableDDL(t *schema.Table, create string, keyed bool) string {
	var b strings.Builder
	b.WriteString(create + " (\n")
	for i, c := range t.Columns {
		fmt.Fprintf(&b, "\t%s %s", Quote(c.Name), c.Type.DuckDBType())
		if t.IsKey(c.Name) {
			b.WriteString(" NOT NULL")
		}
		if keyed || i < len(t.Columns)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	if keyed {
		fmt.Fprintf(&b, "\tPRIMARY KEY (%s)\n", quoteList(t.Key))
	}
	b.WriteString(")")
	return b.String()
}

// Ensure creates the schemas and tables of the declarations, and adds
// columns declared since a table was created (declarations only ever add).
// The warehouse knows its tables by the declarations ensured: Publish
// writes only those.
func (w *Warehouse) Ensure(ctx context.Context, tables ...*schema.Table) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The catalog is read once: a run opens the warehouse with some fifty
	// tables, and one query per table cost a run more than its rows did.
	have, err := w.columns(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if err := w.ensure(ctx, t, have[t.FullName()]); err != nil {
			return err
		}
		if h := t.HistoryTable; h != nil {
			existed := have[h.FullName()] != nil
			if err := w.ensure(ctx, h, have[h.FullName()]); err != nil {
				return err
			}
			if !existed {
				if err := w.seedHistory(ctx, t); err != nil {
					return fmt.Errorf("create %s: %w", h.FullName(), err)
				}
			}
		}
	}
	return nil
}

// columns are every table's columns with their DuckDB types, by the
// table's qualified name.
func (w *Warehouse) columns(ctx context.Context) (map[string]map[string]string, error) {
	have := map[string]map[string]string{}
	err := w.scanRows(ctx, `SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
		WHERE table_catalog = current_database()`, func(r *sql.Rows) error {
		var sch, tbl, col, typ string
		if err := r.Scan(&sch, &tbl, &col, &typ); err != nil {
			return err
		}
		name := sch + "." + tbl
		if have[name] == nil {
			have[name] = map[string]string{}
		}
		have[name][col] = typ
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inspect the warehouse's tables: %w", err)
	}
	return have, nil
}

// ensure creates one table (have: nil), or adds the columns it lacks
// (have: its columns and their DuckDB types).
func (w *Warehouse) ensure(ctx context.Context, t *schema.Table, have map[string]string) error {
	w.tables[t.FullName()] = t
	if have == nil {
		if err := w.exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+Quote(t.Source), TableDDL(t)); err != nil {
			return fmt.Errorf("create %s: %w", t.FullName(), err)
		}
		return nil
	}
	for _, c := range t.Columns {
		if typ, ok := have[c.Name]; ok && typ == "BIGINT" && c.Type == schema.Decimal {
			// Widened since the table was created (quantities became
			// fractional). Any quantity a shop counts fits the 14
			// integer digits of DECIMAL(18,4); a value that did not
			// would fail the ALTER, not be cut.
			stmt := fmt.Sprintf("ALTER TABLE %s.%s ALTER COLUMN %s TYPE %s", Quote(t.Source), Quote(t.Name), Quote(c.Name), c.Type.DuckDBType())
			if err := w.exec(ctx, stmt); err != nil {
				return fmt.Errorf("widen column %s.%s: %w", t.FullName(), c.Name, err)
			}
		}
		if _, ok := have[c.Name]; !ok {
			stmt := fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s %s", Quote(t.Source), Quote(t.Name), Quote(c.Name), c.Type.DuckDBType())
			if err := w.exec(ctx, stmt); err != nil {
				return fmt.Errorf("add column %s.%s: %w", t.FullName(), c.Name, err)
			}
		}
	}
	return nil
}
