package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/repairshop/export/schema"
)

// PartitionFile is the name of the one file a Parquet partition holds.
// Publishing replaces it by rename, so a reader sees the old file or the new
// one, never a partial or a duplicate.
const PartitionFile = "data.parquet"

// RowGroupRows bounds a Parquet row group. At our widest rows (a few hundred
// bytes with _extra) 122,880 rows stay far below 128 MB, so readers can
// stream a file a row group at a time; it is also DuckDB's own default.
const RowGroupRows = 122880

// Published is one partition written by Publish.
type Published struct {
	Table string
	Dir   string
	Rows  int64
}

// PartitionDir is where a table's partition lives under root:
// <source>/<table>/account=<a>[/year=<y>/month=<m>].
func PartitionDir(root string, t *schema.Table, account string, year, month int) string {
	d := filepath.Join(root, t.Source, t.Name, "account="+account)
	if t.PartitionBy != "" {
		d = filepath.Join(d, fmt.Sprintf("year=%d", year), fmt.Sprintf("month=%d", month))
	}
	return d
}

type queued struct {
	table       string
	account     string
	year, month int
}

// Publish writes every partition queued by committed runs from the
// committed tables: each to a temporary file beside its target, flushed,
// then renamed into place. A partition leaves the queue only once its file
// is in place, so an interrupted publish is finished by the next run.
func (w *Warehouse) Publish(ctx context.Context, root string) ([]Published, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rows, err := w.conn.QueryContext(ctx, `SELECT table_name, account, year, month FROM meta.publish_queue ORDER BY ALL`)
	if err != nil {
		return nil, fmt.Errorf("publish Parquet: read queue: %w", err)
	}
	var todo []queued
	for rows.Next() {
		var q queued
		if err := rows.Scan(&q.table, &q.account, &q.year, &q.month); err != nil {
			rows.Close()
			return nil, fmt.Errorf("publish Parquet: read queue: %w", err)
		}
		todo = append(todo, q)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("publish Parquet: read queue: %w", err)
	}
	var done []Published
	for len(todo) > 0 {
		n := 1
		for n < len(todo) && todo[n].table == todo[0].table {
			n++
		}
		batch := todo[:n]
		todo = todo[n:]
		t := w.tables[batch[0].table]
		if t == nil {
			return done, fmt.Errorf("publish Parquet: queued table %s is not declared (Ensure it first)", batch[0].table)
		}
		pub, err := w.publishTable(ctx, root, t, batch)
		done = append(done, pub...)
		if err != nil {
			return done, err
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].Dir < done[j].Dir })
	return done, nil
}

// publishTable writes a table's queued partitions, then its manifest, and
// only then takes them off the queue: a crash anywhere in between makes
// the next run write them (and the manifest) again.
func (w *Warehouse) publishTable(ctx context.Context, root string, t *schema.Table, batch []queued) ([]Published, error) {
	var done []Published
	for _, q := range batch {
		p, err := w.publishPartition(ctx, root, t, q)
		if err != nil {
			return done, fmt.Errorf("publish Parquet %s account=%s %d-%02d: %w", q.table, q.account, q.year, q.month, err)
		}
		done = append(done, p)
	}
	if err := w.writeManifest(ctx, root, t); err != nil {
		return done, fmt.Errorf("publish Parquet %s: manifest: %w", t.FullName(), err)
	}
	err := w.inTx(ctx, func() error {
		for _, q := range batch {
			if _, err := w.conn.ExecContext(ctx, `DELETE FROM meta.publish_queue WHERE table_name = ? AND account = ? AND year = ? AND month = ?`, q.table, q.account, q.year, q.month); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return done, fmt.Errorf("publish Parquet %s: dequeue: %w", t.FullName(), err)
	}
	return done, nil
}

// MarkPublished records that a run's Parquet publishing completed (every
// queued partition, its own and older ones, is in place).
func (w *Warehouse) MarkPublished(ctx context.Context, runID string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.conn.ExecContext(ctx, `UPDATE meta.runs SET published_at = ? WHERE run_id = ?`, at.UTC(), runID); err != nil {
		return fmt.Errorf("mark run %s published: %w", runID, err)
	}
	return nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (w *Warehouse) publishPartition(ctx context.Context, root string, t *schema.Table, q queued) (Published, error) {
	dir := PartitionDir(root, t, q.account, q.year, q.month)
	p := Published{Table: t.FullName(), Dir: dir}
	where := fmt.Sprintf("%s = %s", Quote(schema.ColAccount), sqlString(q.account))
	if t.PartitionBy != "" {
		c := Quote(t.PartitionBy)
		where += fmt.Sprintf(" AND year(%s) = %d AND month(%s) = %d", c, q.year, c, q.month)
	}
	target := Quote(t.Source) + "." + Quote(t.Name)
	if err := w.conn.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", target, where)).Scan(&p.Rows); err != nil {
		return p, fmt.Errorf("count rows: %w", err)
	}
	final := filepath.Join(dir, PartitionFile)
	removeStaleTemps(dir, PartitionFile)
	if p.Rows == 0 {
		// Every row moved out of this partition: remove it.
		if err := os.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
			return p, err
		}
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return p, err
	}
	// The account is in the path (Hive partitioning), not in the file, as
	// Spark and DuckDB's own PARTITION_BY write it. The temporary name does
	// not end in .parquet, so globbing readers never pick it up.
	var cols []string
	for _, c := range t.Columns {
		if c.Name != schema.ColAccount {
			cols = append(cols, Quote(c.Name))
		}
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", PartitionFile, os.Getpid()))
	copySQL := fmt.Sprintf("COPY (SELECT %s FROM %s WHERE %s ORDER BY %s) TO %s (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %d)",
		strings.Join(cols, ", "), target, where, quoteList(t.Key), sqlString(tmp), RowGroupRows)
	if _, err := w.conn.ExecContext(ctx, copySQL); err != nil {
		os.Remove(tmp)
		return p, fmt.Errorf("write: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return p, err
	}
	w.at(HookBeforeRename)
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return p, err
	}
	w.at(HookAfterRename)
	return p, syncFile(dir)
}

// removeStaleTemps deletes temporary files a killed publisher left beside
// name in dir. The caller holds the warehouse lock: no live writer owns them.
func removeStaleTemps(dir, name string) {
	stale, _ := filepath.Glob(filepath.Join(dir, "."+name+".*.tmp"))
	for _, f := range stale {
		os.Remove(f)
	}
}

// syncFile flushes a file or directory to disk, so that a rename is never
// published ahead of the data it points at.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}
