package load

// The SQL of an upsert: how a staged table's rows are compared with the
// stored ones (fingerprints, keys, partial rows completed by details) and
// merged into the target.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/repairshop/export/schema"
)

// sameRow is the condition "staged row s equals stored row t" over the
// business columns (bookkeeping columns excluded, _extra included).
func sameRow(t *schema.Table) string {
	var conds []string
	for _, c := range t.Columns {
		if c.Name == schema.ColExtractedAt || c.Name == schema.ColRunID {
			continue
		}
		q := Quote(c.Name)
		if c.Name == schema.ColExtra {
			// Merging _extra reorders its keys: compare it as a set of
			// key/value pairs, not as text.
			conds = append(conds, fmt.Sprintf("%s IS NOT DISTINCT FROM %s", extraPairs("s."+q), extraPairs("t."+q)))
			continue
		}
		conds = append(conds, fmt.Sprintf("s.%s IS NOT DISTINCT FROM t.%s", q, q))
	}
	return strings.Join(conds, " AND ")
}

// extraPairs is an _extra object as its sorted [key, value] pairs.
func extraPairs(col string) string {
	return fmt.Sprintf("list_sort(list_transform(json_keys(%s), lambda k: [k, (%s -> k)::VARCHAR]))", col, col)
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

// quotedName is a table's own qualified name, quoted (for where rows go
// in a rebuild, see (*Warehouse).target).
func quotedName(t *schema.Table) string { return Quote(t.Source) + "." + Quote(t.Name) }

// deltaSQL builds a table's delta: each staged row with its operation against
// the stored table (insert, update, same), and for a child table also the
// stored lines of re-fetched parents that are gone (delete). once says
// that no key of a top-level table was staged twice: the fold of a key's
// versions is then left out of the statement (see onceDeltaSQL).
func deltaSQL(st *stagedTable, tgt string, once bool) string {
	t := st.table
	// oldPart is the stored row's partition (where an update moves it from).
	oldPart := "0 AS _oy, 0 AS _om"
	if t.PartitionBy != "" {
		c := "t." + Quote(t.PartitionBy)
		oldPart = fmt.Sprintf("year(%s) AS _oy, month(%s) AS _om", c, c)
	}
	if !t.IsChild() && once {
		return onceDeltaSQL(st, tgt, oldPart)
	}
	if !t.IsChild() {
		// The versions of a key staged in one checkpoint fold into one: from
		// its last whole version (a detail) on, later partial versions (a
		// list page, or a detail that lacks the list's fields) fill in
		// what they carry. If every version is partial, the fold is
		// completed from the stored row. Most keys are staged once (a
		// page's records, a rebuild's): they skip the fold, whose window
		// and aggregates cost far more memory and time per row. The
		// stored rows are read through the staged keys (a semi join built
		// on the staged side), so memory stays that of the checkpoint,
		// not of the table.
		key := quoteList(t.Key)
		cols := columnList(t, "")
		ex, rid := Quote(schema.ColExtractedAt), Quote(schema.ColRunID)
		return fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS
			WITH staged_keys AS (SELECT DISTINCT %s FROM %s),
			stored AS (SELECT o.* FROM %s o SEMI JOIN staged_keys k ON %s),
			dup AS (SELECT %s FROM %s GROUP BY ALL HAVING count(*) > 1),
			once AS (SELECT %s, _batch, _partial FROM %s x WHERE NOT EXISTS (SELECT 1 FROM dup WHERE %s)),
			versions AS (SELECT *, row_number() OVER (ORDER BY _batch, rowid) AS _r, sum(CASE WHEN _partial THEN 0 ELSE 1 END) OVER (PARTITION BY %s ORDER BY _batch, rowid ROWS UNBOUNDED PRECEDING) AS _seg
				FROM %s x WHERE EXISTS (SELECT 1 FROM dup WHERE %s)),
			changed AS (%s),
			folded AS (SELECT %s, max(_batch) AS _batch, bool_and(_partial) AS _partial
				FROM (SELECT *, max(_seg) OVER (PARTITION BY %s) AS _mseg FROM versions)
				WHERE _seg = _mseg GROUP BY %s)
			%s`,
			Quote(st.delta),
			key, Quote(st.name),
			tgt, keyJoin(t, "k", "o"),
			key, Quote(st.name),
			cols, Quote(st.name), keyJoin(t, "dup", "x"),
			key, Quote(st.name), keyJoin(t, "dup", "x"),
			lastChangeSQL(t),
			foldedColumns(t), key, key,
			classifiedSQL(t, fmt.Sprintf(`(SELECT * FROM once UNION ALL BY NAME SELECT f.* REPLACE (coalesce(c.%s, f.%s) AS %s, coalesce(c.%s, f.%s) AS %s) FROM folded f LEFT JOIN changed c ON %s)`,
				ex, ex, ex, rid, rid, rid, keyJoin(t, "f", "c")), oldPart))
	}
	// A parent staged twice in one checkpoint: its last array wins whole.
	pk := Quote(t.ParentKey)
	return fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS
		WITH latest AS (SELECT account, parent_id, max(_batch) AS _batch FROM %s GROUP BY ALL),
		s AS (SELECT c.* FROM %s c JOIN latest l ON c.account = l.account AND c.%s = l.parent_id AND c._batch = l._batch),
		stored AS (SELECT t.* FROM %s t SEMI JOIN latest l ON t.account = l.account AND t.%s = l.parent_id)
		SELECT s.*, CASE WHEN t.%s IS NULL THEN 'insert' WHEN %s THEN 'same' ELSE 'update' END AS _op, %s
		FROM s LEFT JOIN stored t ON %s
		UNION ALL BY NAME
		SELECT t.*, NULL::BIGINT AS _batch, 'delete' AS _op, %s
		FROM stored t
		WHERE NOT EXISTS (SELECT 1 FROM s WHERE %s)`,
		Quote(st.delta),
		Quote(st.parents), Quote(st.name), pk,
		tgt, pk,
		Quote(schema.ColAccount), sameRow(t), oldPart, keyJoin(t, "s", "t"),
		oldPart,
		keyJoin(t, "s", "t"))
}

// onceDeltaSQL is deltaSQL for a top-level table none of whose keys was
// staged twice: what the full statement gives when its fold has no key
// to fold (each staged row completed from its stored row, if partial,
// and compared with it), without the fold's windows and aggregates. Most
// checkpoints are such (a page's records, a rebuild's replayed run), and
// the full statement took DuckDB 10 to 13 ms to plan, most of a small
// table's delta, some 20 times a checkpoint.
func onceDeltaSQL(st *stagedTable, tgt, oldPart string) string {
	t := st.table
	return fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS
		WITH stored AS (SELECT o.* FROM %s o SEMI JOIN %s k ON %s)
		%s`,
		Quote(st.delta),
		tgt, Quote(st.name), keyJoin(t, "k", "o"),
		classifiedSQL(t, Quote(st.name), oldPart))
}

// classifiedSQL is a delta's last step: each row of rows (one per key,
// the staged versions already folded) completed from its stored row if
// it is partial, then compared with it (insert, same or update), with
// the stored row's partition (oldPart). It reads the stored rows from
// the statement's CTE "stored".
func classifiedSQL(t *schema.Table, rows, oldPart string) string {
	return fmt.Sprintf(`SELECT s.*, CASE WHEN t.%s IS NULL THEN 'insert' WHEN %s THEN 'same' ELSE 'update' END AS _op, %s
		FROM (SELECT %s, x._batch, x._partial FROM %s x LEFT JOIN stored o ON %s) s
		LEFT JOIN stored t ON %s`,
		Quote(schema.ColAccount), sameRow(t), oldPart,
		mergedColumns(t), rows, keyJoin(t, "x", "o"),
		keyJoin(t, "s", "t"))
}

// foldedColumns aggregates the staged versions of one key (ordered by
// _r): the key, the last system values, the last non-NULL value of each
// column, and the _extra objects merged in order. (extracted_at and
// run_id are then those of the last version that changed the row: see
// lastChangeSQL.)
func foldedColumns(t *schema.Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		q := Quote(c.Name)
		switch {
		case t.IsKey(c.Name):
			cols[i] = q
		case c.Name == schema.ColExtra:
			cols[i] = fmt.Sprintf(`CASE WHEN count(%s) = 0 THEN NULL ELSE CAST(list_reduce(list(%s ORDER BY _r) FILTER (WHERE %s IS NOT NULL), lambda a, b: json_merge_patch(a, b)) AS JSON) END AS %s`, q, q, q, q)
		case c.System:
			cols[i] = fmt.Sprintf("arg_max(%s, _r) AS %s", q, q)
		default:
			cols[i] = fmt.Sprintf("arg_max(%s, _r) FILTER (WHERE %s IS NOT NULL) AS %s", q, q, q)
		}
	}
	return strings.Join(cols, ", ")
}

// mergedColumns selects a staged row x completed from the stored row o
// where x is partial: NULL columns take the stored value, _extra is the
// stored one patched with the staged one.
func mergedColumns(t *schema.Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		q := Quote(c.Name)
		switch {
		case t.IsKey(c.Name) || c.System && c.Name != schema.ColExtra:
			cols[i] = "x." + q
		case c.Name == schema.ColExtra:
			cols[i] = fmt.Sprintf("CASE WHEN x._partial AND o.%s IS NOT NULL THEN CAST(json_merge_patch(o.%s, coalesce(x.%s, '{}')) AS JSON) ELSE x.%s END AS %s", q, q, q, q, q)
		default:
			cols[i] = fmt.Sprintf("CASE WHEN x._partial AND x.%s IS NULL THEN o.%s ELSE x.%s END AS %s", q, q, q, q)
		}
	}
	return strings.Join(cols, ", ")
}

// upsertTable moves one classified table (see classify) into its
// warehouse table; the caller holds the checkpoint's transaction.
func (w *Warehouse) upsertTable(ctx context.Context, st *stagedTable, runID string) error {
	t := st.table
	tgt := w.target(t)
	delta, counted := Quote(st.delta), Quote(st.counted)
	rank := func(op string) string {
		return fmt.Sprintf("CASE %s WHEN 'insert' THEN 3 WHEN 'update' THEN 2 WHEN 'same' THEN 1 ELSE 0 END", op)
	}
	for a, n := range st.received {
		w.statsFor(a, t.FullName()).Received += n
	}
	if len(st.ops) == 0 {
		return nil // nothing staged but empty pages
	}
	// The counts move (see below); the last row says how many rows this
	// run had counted before.
	rows, err := w.conn.QueryContext(ctx, fmt.Sprintf(`SELECT account, op, coalesce(before, ''), count(*) FROM %s WHERE before IS NULL OR %s > %s GROUP BY ALL
		UNION ALL SELECT account, 'delete', '', count(*) FROM %s WHERE _op = 'delete' GROUP BY ALL
		UNION ALL SELECT '', '', 'counted before', count(*) FROM %s WHERE before IS NOT NULL`, counted, rank("op"), rank("before"), delta, counted))
	if err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	var countedBefore int64
	for rows.Next() {
		var a, op, before string
		var n int64
		if err := rows.Scan(&a, &op, &before, &n); err != nil {
			rows.Close()
			return err
		}
		if before == "counted before" {
			countedBefore = n
			continue
		}
		s := w.statsFor(a, t.FullName())
		for _, c := range []struct {
			op string
			by int64
		}{{before, -n}, {op, n}} { // a row moves from its earlier count to this one
			switch c.op {
			case "insert":
				s.Inserted += c.by
			case "update":
				s.Updated += c.by
			case "same":
				s.Unchanged += c.by
			case "delete":
				s.Deleted += c.by
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("count staged rows: %w", err)
	}
	// Remember each row under its strongest operation this run. Rows new
	// to the run's count (most checkpoints hold only such rows) are simply
	// added.
	keys := runTable(runCounted, t.FullName())
	remember := []string{fmt.Sprintf(`INSERT INTO %s SELECT k, op FROM %s`, keys, counted)}
	if countedBefore > 0 {
		remember = []string{
			fmt.Sprintf(`DELETE FROM %s WHERE k IN (SELECT k FROM %s WHERE before IS NOT NULL)`, keys, counted),
			fmt.Sprintf(`INSERT INTO %s SELECT k, arg_max(op, %s) FROM (
				SELECT k, op FROM %s UNION ALL SELECT k, before FROM %s WHERE before IS NOT NULL) GROUP BY k`, keys, rank("op"), counted, counted),
		}
	}
	for _, q := range remember {
		if _, err := w.execSQL(ctx, q); err != nil {
			return fmt.Errorf("count staged rows: %w", err)
		}
	}
	if !st.has(opInsert, opUpdate, opDelete) {
		return w.resolveRejects(ctx, st, runID) // every row unchanged
	}
	// Partitions to republish: where changed rows are now and where they were.
	queue := fmt.Sprintf(`INSERT INTO meta.publish_queue
		SELECT DISTINCT '%s', account, y, m, ? FROM (
			SELECT d.account, %s FROM %s d WHERE d._op <> 'same'
			UNION ALL
			SELECT d.account, d._oy, d._om FROM %s d WHERE d._op = 'update'
		) p(account, y, m) WHERE y IS NOT NULL
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`,
		t.FullName(), partitionExpr(t, "d"), delta, delta)
	if err := w.queueChanged(ctx, t, queue, runID); err != nil {
		return fmt.Errorf("queue Parquet partitions: %w", err)
	}
	if t.IsChild() && st.has(opDelete) {
		del := fmt.Sprintf(`DELETE FROM %s t USING %s d WHERE d._op = 'delete' AND %s`, tgt, delta, keyJoin(t, "t", "d"))
		if _, err := w.execSQL(ctx, del); err != nil {
			return fmt.Errorf("delete lines gone from their parent: %w", err)
		}
	}
	if st.has(opInsert, opUpdate) {
		if err := w.replaceRows(ctx, t, tgt, fmt.Sprintf(`SELECT * FROM %s WHERE _op IN ('insert', 'update')`, delta), nil, st.storedRows()); err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
	}
	return w.resolveRejects(ctx, st, runID)
}

// resolveRejects marks the earlier rejects of the records a checkpoint
// loaded resolved.
func (w *Warehouse) resolveRejects(ctx context.Context, st *stagedTable, runID string) error {
	t := st.table
	if !t.IsChild() && w.openRejects[t.FullName()] {
		// A record loaded now resolves its earlier rejects.
		resolve := fmt.Sprintf(`UPDATE meta.rejects SET resolved_run_id = ?
			WHERE resolved_run_id IS NULL AND table_name = ? AND run_id <> ?
			AND (account, record_key) IN (SELECT account, CAST(%s AS VARCHAR) FROM %s)`, Quote(t.Key[1]), Quote(st.delta))
		if _, err := w.execSQL(ctx, resolve, runID, t.FullName(), runID); err != nil {
			return fmt.Errorf("resolve rejects: %w", err)
		}
	}
	return nil
}

// noneStored is replaceRows' stored condition for rows none of whose keys
// is stored (a checkpoint of new rows only): they are inserted, with no
// conflict to resolve.
const noneStored = "false"

// storedRows is replaceRows' stored condition for the delta's rows (alias
// d): its updates, or noneStored when it holds none.
func (st *stagedTable) storedRows() string {
	if !st.has(opUpdate) {
		return noneStored
	}
	return "d._op = 'update'"
}

// replaceRows writes the rows that rows selects (with args; t's columns,
// by name, among others) into tgt, each replacing the stored row of its
// key: a delete of the keys, then an insert. stored, if not "", is the
// condition on rows (alias d) that selects those whose key may be stored:
// the others' delete is left out (a rebuild's rows are mostly new, and
// each delete scanned the whole shadow: 1.9 s of a million-ticket
// rebuild). stored = noneStored says that no key is stored: the rows are
// inserted.
//
// A keyed table larger than a row group (see large) is written the same
// way, not with INSERT OR REPLACE, which DuckDB runs as an update of
// every column of the stored row, and whose commit grows with the table:
// 2,000 changed rows spread over a table of 33 columns took 0.33 s to
// write and commit at 200,000 rows and 3.4 s at a million (an UPDATE of
// the same columns as much; the CHECKPOINT after either found nothing
// left to write). Deleted and inserted, they took 0.09 and 0.13 s, and
// their CHECKPOINT 0.23 and 0.24 s. A smaller keyed table, or one where
// which rows are stored is not known (stored is "": a child's versions,
// few of them), resolves the conflicts itself: its delete and insert
// cost more statements than its updates.
func (w *Warehouse) replaceRows(ctx context.Context, t *schema.Table, tgt, rows string, args []any, stored string) error {
	cols, from := columnList(t, ""), columnList(t, "d.")
	if !w.keyless(t) && stored != noneStored {
		inPlace := stored == ""
		if !inPlace {
			big, err := w.large(ctx, t)
			if err != nil {
				return err
			}
			inPlace = !big
		}
		if inPlace {
			_, err := w.execSQL(ctx, fmt.Sprintf(`INSERT OR REPLACE INTO %s (%s) SELECT %s FROM (%s) d`, tgt, cols, from, rows), args...)
			return err
		}
	}
	insert := func() error {
		_, err := w.execSQL(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM (%s) d`, tgt, cols, from, rows), args...)
		return err
	}
	if stored == noneStored {
		return insert()
	}
	if stored != "" {
		var some bool
		if err := w.conn.QueryRowContext(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM (%s) d WHERE %s)", rows, stored), args...).Scan(&some); err != nil {
			return err
		}
		if !some {
			return insert()
		}
	}
	return w.deleteAndInsert(ctx, t, tgt, rows, args, stored)
}

// deleteAndInsert writes the rows that rows selects (with args) into tgt
// as replaceRows does past its choices: the stored rows of their keys
// (of those that stored, if not "", selects) are deleted, then the rows
// inserted. rows may read tgt (a version completed in place reads the one
// it replaces, a closed version the one it closes): it is read once,
// into a temporary table, before the delete, as INSERT OR REPLACE would.
func (w *Warehouse) deleteAndInsert(ctx context.Context, t *schema.Table, tgt, rows string, args []any, stored string) error {
	kept := Quote("replacing " + t.FullName())
	if _, err := w.execSQL(ctx, fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM (%s) d`, kept, rows), args...); err != nil {
		return err
	}
	defer w.exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+kept)
	replaced := "SELECT * FROM " + kept
	if stored != "" {
		replaced += " d WHERE " + stored
	}
	if _, err := w.execSQL(ctx, fmt.Sprintf(`DELETE FROM %s t USING (%s) d WHERE %s`, tgt, replaced, keyJoin(t, "t", "d"))); err != nil {
		return err
	}
	cols := columnList(t, "")
	_, err := w.execSQL(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s`, tgt, cols, cols, kept))
	return err
}

// rowGroupRows is DuckDB's row group: a change to a table of at most one
// rewrites at most one.
const rowGroupRows = 122_880

// large says whether the warehouse table t holds more than a row group
// (DuckDB's estimate), where a changed row is better deleted and
// inserted than updated in place (see replaceRows, closeVersions).
func (w *Warehouse) large(ctx context.Context, t *schema.Table) (bool, error) {
	var n int64
	err := w.conn.QueryRowContext(ctx, `SELECT coalesce(max(estimated_size), 0) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?`, t.Source, t.Name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("size of %s: %w", t.FullName(), err)
	}
	return n > rowGroupRows || largeTables, nil
}

// largeTables makes every table large (tests of the delete-and-insert
// paths on small tables).
var largeTables = false
