package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/repairshop/export/schema"
)

// PartitionFile is the name of the one file a Parquet partition holds.
// Publishing replaces it by rename, so a reader sees the old file or the new
// one, never a partial or a duplicate.
const PartitionFile = "data.parquet"

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
	for _, q := range todo {
		t := schema.Lookup(q.table)
		if t == nil {
			return done, fmt.Errorf("publish Parquet: queued table %s is not declared", q.table)
		}
		p, err := w.publishPartition(ctx, root, t, q)
		if err != nil {
			return done, fmt.Errorf("publish Parquet %s account=%s %d-%02d: %w", q.table, q.account, q.year, q.month, err)
		}
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM meta.publish_queue WHERE table_name = ? AND account = ? AND year = ? AND month = ?`, q.table, q.account, q.year, q.month); err != nil {
			return done, fmt.Errorf("publish Parquet: dequeue %s: %w", q.table, err)
		}
		done = append(done, p)
	}
	sort.Slice(done, func(i, j int) bool { return done[i].Dir < done[j].Dir })
	return done, nil
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
	copySQL := fmt.Sprintf("COPY (SELECT %s FROM %s WHERE %s ORDER BY %s) TO %s (FORMAT parquet, COMPRESSION zstd)",
		strings.Join(cols, ", "), target, where, quoteList(t.Key), sqlString(tmp))
	if _, err := w.conn.ExecContext(ctx, copySQL); err != nil {
		os.Remove(tmp)
		return p, fmt.Errorf("write: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return p, err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return p, err
	}
	return p, syncFile(dir)
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
