package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// RowGroupBytes bounds a row group by its size as well, whichever bound
// comes first: a partitioned COPY holds a row group per open partition
// file until it is full, and a table's partitions (a month each) rarely
// reach RowGroupRows, so the whole COPY sat in memory: a million-ticket
// history in 25 partitions took 4.3 s at a 256 MiB cap, as DuckDB spilled
// and evicted, and 2.3 s with 8 MB groups (about 9,000 such rows; 55,000
// of a narrow table), the process at 300 MB instead of 380. The files are
// no larger.
const RowGroupBytes = "8MB"

// rowGroups are the COPY options that bound a row group: rows rows or
// size bytes ("8MB"), whichever comes first.
func rowGroups(rows int, size string) string {
	return fmt.Sprintf("ROW_GROUP_SIZE %d, ROW_GROUP_SIZE_BYTES %s", rows, sqlString(size))
}

// execCopy runs copySQL, a COPY with rowGroups, with DuckDB's
// preserve_insertion_order off (ROW_GROUP_SIZE_BYTES requires it: a
// file's rows are in no particular order, as they already were across a
// partitioned write's threads), then puts it back, before any other
// statement: staging relies on insertion order. The caller holds w.mu.
func (w *Warehouse) execCopy(ctx context.Context, copySQL string) error {
	if _, err := w.execSQL(ctx, "SET preserve_insertion_order = false"); err != nil {
		return err
	}
	_, err := w.execSQL(ctx, copySQL)
	if _, rerr := w.execSQL(context.WithoutCancel(ctx), "SET preserve_insertion_order = true"); rerr != nil {
		return errors.Join(err, fmt.Errorf("restore preserve_insertion_order: %w", rerr))
	}
	return err
}

// PartitionsPerWrite bounds the partitions one COPY writes. DuckDB keeps
// at most partitioned_write_max_open_files (100) partition files open;
// past that it closes some and starts new files for them, and a partition
// must be one file. Each open file also holds a row group's buffer.
const PartitionsPerWrite = 48

// Published is one partition written by Publish.
type Published struct {
	Table string
	Dir   string
	Rows  int64
}

// PartitionDir is where a table's partition lives under root:
// <source>/<table>/account=<a>[/year=<y>/month=<m>].
func PartitionDir(root string, t *schema.Table, account string, year, month int) string {
	return filepath.Join(root, t.Source, t.Name, partitionPath(t, account, year, month))
}

// partitionPath is a partition's Hive path: account=<a>[/year=<y>/month=<m>].
func partitionPath(t *schema.Table, account string, year, month int) string {
	d := "account=" + account
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
// committed tables: a table's queued partitions in partitioned COPYs
// (DuckDB's own writer) to hidden files beside the ones they replace, each
// flushed and then renamed into place. A partition leaves the queue only
// once its file is in place, so an interrupted publish is finished by the
// next run.
func (w *Warehouse) Publish(ctx context.Context, root string) ([]Published, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The staging folder earlier versions wrote partitions into first: a
	// killed one may have left it. No live writer owns it (the caller
	// holds the warehouse lock).
	if err := os.RemoveAll(filepath.Join(root, oldStagingDir)); err != nil {
		return nil, fmt.Errorf("publish Parquet: %w", err)
	}
	rows, err := w.conn.QueryContext(ctx, `SELECT table_name, account, year, month FROM meta.publish_queue WHERE table_name <> ? ORDER BY ALL`, viewsQueued)
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

// oldStagingDir, under the Parquet root, is where versions before
// 2026-12-07 wrote partitions before renaming them into place.
const oldStagingDir = ".publish"

// publishToken names the files one publish writes: the process and the
// time, so that a file a killed publisher left is never taken for one of
// this publish's.
func publishToken() string {
	return fmt.Sprintf("%d-%s", os.Getpid(), strconv.FormatInt(time.Now().UnixNano(), 36))
}

// tempPrefix is how the file a publish writes into a partition's folder is
// named before it is renamed to name: hidden and ending in .tmp, so that
// readers, which read *.parquet, never see it, and taken by temps for a
// killed publisher's once that publisher is gone.
func tempPrefix(name, token string) string { return "." + name + "." + token + "-" }

// temps are the temporary files beside name in dir: ours, those the
// publish token wrote (none when token is ""), and the others, which a
// killed publisher left. One reading of the folder serves both.
func temps(dir, name, token string) (ours, others []string) {
	entries, _ := os.ReadDir(dir)
	mine := tempPrefix(name, token)
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "."+name+".") || !strings.HasSuffix(n, ".tmp") {
			continue
		}
		if token != "" && strings.HasPrefix(n, mine) {
			ours = append(ours, filepath.Join(dir, n))
		} else {
			others = append(others, filepath.Join(dir, n))
		}
	}
	return ours, others
}

// removeAll removes files, as far as it can.
func removeAll(files []string) {
	for _, f := range files {
		os.Remove(f)
	}
}

// publishTable writes a table's queued partitions, then its manifest, and
// only then takes them off the queue: a crash anywhere in between makes
// the next run write them (and the manifest) again.
func (w *Warehouse) publishTable(ctx context.Context, root string, t *schema.Table, batch []queued) ([]Published, error) {
	parts, err := w.partitions(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("publish Parquet %s: read partitions: %w", t.FullName(), err)
	}
	done, err := w.writePartitions(ctx, root, t, batch, parts)
	if err != nil {
		return done, fmt.Errorf("publish Parquet %s: %w", t.FullName(), err)
	}
	if err := w.writeManifest(root, t, parts); err != nil {
		return done, fmt.Errorf("publish Parquet %s: manifest: %w", t.FullName(), err)
	}
	vals := make([]string, len(batch))
	for i, q := range batch {
		vals[i] = fmt.Sprintf("(%s, %d, %d)", sqlString(q.account), q.year, q.month)
	}
	_, err = w.execSQL(ctx, fmt.Sprintf(`DELETE FROM meta.publish_queue WHERE table_name = ? AND (account, year, month) IN (VALUES %s)`, strings.Join(vals, ", ")), t.FullName())
	if err != nil {
		return done, fmt.Errorf("publish Parquet %s: dequeue: %w", t.FullName(), err)
	}
	return done, nil
}

// writePartitions writes the queued partitions of t with partitioned
// COPYs, each partition's file straight into its own folder under a hidden
// temporary name, then renames each into place: a partition the COPY wrote
// replaces its file, one it did not (its rows all moved out) is removed.
// Writing beside the final file rather than in a staging tree of its own
// saves creating (and then removing) a folder per partition: a nightly
// publish finds its partitions' folders already there.
func (w *Warehouse) writePartitions(ctx context.Context, root string, t *schema.Table, batch []queued, parts []ManifestPartition) ([]Published, error) {
	token := publishToken()
	counts := map[queued]int64{}
	for _, p := range parts {
		counts[queued{table: t.FullName(), account: p.Account, year: p.Year, month: p.Month}] = p.Rows
	}
	year, month := "0", "0"
	partition := "account"
	if t.PartitionBy != "" {
		c := "t." + Quote(t.PartitionBy)
		year, month = "year("+c+")", "month("+c+")"
		partition = "account, year, month"
	}
	// The account is in the path (Hive partitioning), not in the file, as
	// Spark and DuckDB's own PARTITION_BY write it.
	var cols []string
	for _, c := range t.Columns {
		if c.Name != schema.ColAccount {
			cols = append(cols, "t."+Quote(c.Name))
		}
	}
	// A partitioned COPY for the queued partitions that have rows,
	// PartitionsPerWrite at a time. It streams: DuckDB flushes its
	// partitions' buffers every partitioned_write_flush_threshold rows (set
	// at open), so its memory does not grow with the table. A file's rows
	// are in no particular order: DuckDB 1.5's sorted partitioned write
	// holds far more memory (it ran out at 128 MB on a million rows where
	// this takes a fraction). OVERWRITE_OR_IGNORE lets it write into
	// folders that hold files already (never OVERWRITE, which would empty
	// them).
	var group []queued
	for _, q := range batch {
		if counts[q] > 0 {
			group = append(group, q)
		}
	}
	tableDir := filepath.Join(root, t.Source, t.Name)
	if err := os.MkdirAll(tableDir, 0o755); err != nil { // DuckDB makes only the partitions' folders
		return nil, err
	}
	for len(group) > 0 {
		chunk := group[:min(len(group), PartitionsPerWrite)]
		group = group[len(chunk):]
		rows := fmt.Sprintf(`SELECT %s, t.account AS account, %s AS year, %s AS month FROM %s t`,
			strings.Join(cols, ", "), year, month, quotedName(t))
		if len(chunk) < len(parts) {
			// Only these partitions; when every partition is in the chunk
			// (a first run, a rebuild of a small table) the whole table,
			// without the join.
			vals := make([]string, len(chunk))
			for i, q := range chunk {
				vals[i] = fmt.Sprintf("(%s, %d, %d)", sqlString(q.account), q.year, q.month)
			}
			rows += fmt.Sprintf(` SEMI JOIN (VALUES %s) q(a, y, m) ON t.account = q.a AND %s = q.y AND %s = q.m`, strings.Join(vals, ", "), year, month)
		}
		copySQL := fmt.Sprintf(`COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd, %s, PARTITION_BY (%s), FILE_EXTENSION 'tmp', FILENAME_PATTERN %s, OVERWRITE_OR_IGNORE)`,
			rows, sqlString(tableDir), rowGroups(RowGroupRows, RowGroupBytes), partition, sqlString(tempPrefix(PartitionFile, token)+"{i}"))
		if err := w.execCopy(ctx, copySQL); err != nil {
			// What the COPYs wrote would be left hidden until these
			// partitions are published again; a full disk wants the room.
			removeWritten(tableDir, token)
			return nil, fmt.Errorf("write: %w", err)
		}
	}
	return w.placePartitions(root, token, t, batch, counts)
}

// placeWorkers is how many partitions are moved into place at once. Each
// move waits on two fsyncs (the file, then its directory), which the disk
// answers faster together than one after another: 1.9 times on this
// project's 2-core test machine (ext4), where a run of 50 small accounts
// moves 8,000 partitions.
const placeWorkers = 8

// placePartitions moves each partition of batch into place, several at a
// time. Those placed are returned even when another failed (each is whole,
// and the queue keeps them all until the table is done), with the first
// failure in the batch's order.
func (w *Warehouse) placePartitions(root, token string, t *schema.Table, batch []queued, counts map[queued]int64) ([]Published, error) {
	errs := make([]error, len(batch))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(placeWorkers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				q := batch[i]
				dir := PartitionDir(root, t, q.account, q.year, q.month)
				if err := w.placePartition(token, dir, counts[q]); err != nil {
					errs[i] = fmt.Errorf("account=%s %d-%02d: %w", q.account, q.year, q.month, err)
				}
			}
		}()
	}
	for i := range batch {
		next <- i
	}
	close(next)
	wg.Wait()
	var done []Published
	var first error
	for i, q := range batch {
		if errs[i] == nil {
			done = append(done, Published{Table: t.FullName(), Dir: PartitionDir(root, t, q.account, q.year, q.month), Rows: counts[q]})
		} else if first == nil {
			first = errs[i]
		}
	}
	return done, first
}

// placePartition renames the file the publish (token) wrote into dir
// into place (or removes the partition's file when it has no rows left),
// then removes what a killed publisher left there.
func (w *Warehouse) placePartition(token, dir string, rows int64) error {
	final := filepath.Join(dir, PartitionFile)
	if rows == 0 {
		// Every row moved out of this partition: remove it.
		removeStaleTemps(dir, PartitionFile)
		if err := os.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	files, stale := temps(dir, PartitionFile, token)
	if len(files) != 1 {
		return fmt.Errorf("the partitioned write left %d files for it, want 1", len(files))
	}
	if err := syncFile(files[0]); err != nil {
		return err
	}
	w.at(HookBeforeRename)
	if err := os.Rename(files[0], final); err != nil {
		os.Remove(files[0])
		return err
	}
	w.at(HookAfterRename)
	if err := syncFile(dir); err != nil {
		return err
	}
	removeAll(stale)
	return nil
}

// scanRows runs a query and calls fn for each row.
func (w *Warehouse) scanRows(ctx context.Context, q string, fn func(*sql.Rows) error) error {
	rows, err := w.conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := fn(rows); err != nil {
			rows.Close()
			return err
		}
	}
	return errors.Join(rows.Err(), rows.Close())
}

// MarkPublished records that a run's Parquet publishing completed (every
// queued partition, its own and older ones, is in place).
func (w *Warehouse) MarkPublished(ctx context.Context, runID string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.execSQL(ctx, `UPDATE meta.runs SET published_at = ? WHERE run_id = ?`, at.UTC(), runID); err != nil {
		return fmt.Errorf("mark run %s published: %w", runID, err)
	}
	return nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// removeStaleTemps deletes temporary files a killed publisher left beside
// name in dir. The caller holds the warehouse lock: no live writer owns them.
func removeStaleTemps(dir, name string) {
	_, stale := temps(dir, name, "")
	removeAll(stale)
}

// accountDirs are the account=<a> folders in dir.
func accountDirs(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "account=") {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	return dirs
}

// removeWritten removes the files a failed publish (token) wrote into the
// account=<a> folders under dir, at any depth.
func removeWritten(dir, token string) {
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			ours, _ := temps(path, PartitionFile, token)
			removeAll(ours)
		}
		return nil
	})
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
