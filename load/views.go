package load

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// PublishViews writes views (the conformed model) to Parquet for BI tools:
// <root>/<schema>/<view>/account=<a>/data.parquet, with a manifest like a
// table's, so that `repairshop-export query --from-parquet` serves them too. A view
// mixes tables, so it is written whole: a partitioned COPY
// (PartitionsPerWrite accounts at a time, when there are more) writes each
// account's file into its folder under a hidden temporary name, each
// account's rows are counted from its file's footer (the view runs once),
// each file is flushed and renamed into place, the files of accounts it no
// longer has are removed, then the manifest. runID is the run publishing.
//
// The views are written when a checkpoint changed a table since they last
// were (a row in meta.publish_queue, taken off once they are in place), or
// when force is set.
func (w *Warehouse) PublishViews(ctx context.Context, root string, views []View, runID string, force bool) ([]Published, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	queued, err := w.viewsDue(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish Parquet: %w", err)
	}
	if !queued && !force {
		return nil, nil
	}
	var done []Published
	for _, v := range views {
		pub, err := w.publishView(ctx, root, v, runID)
		done = append(done, pub...)
		if err != nil {
			return done, fmt.Errorf("publish Parquet %s.%s: %w", v.Schema, v.Name, err)
		}
	}
	if _, err := w.execSQL(ctx, `DELETE FROM meta.publish_queue WHERE table_name = ?`, viewsQueued); err != nil {
		return done, fmt.Errorf("publish Parquet: dequeue the views: %w", err)
	}
	return done, nil
}

// viewChunks are the WHERE clauses that split a view's write into
// PartitionsPerWrite accounts each (DuckDB keeps at most 100 partition
// files open, and a partition must be one file): one empty clause, the
// whole view, for that few accounts. The accounts are the tables'; a last
// clause takes any other a view may have.
func (w *Warehouse) viewChunks(ctx context.Context) ([]string, error) {
	var accounts []string
	if len(w.tables) > 0 {
		if err := w.scanRows(ctx, w.accountsWithRows()+" ORDER BY 1", func(r *sql.Rows) error {
			accounts = append(accounts, "")
			return r.Scan(&accounts[len(accounts)-1])
		}); err != nil {
			return nil, fmt.Errorf("list the accounts: %w", err)
		}
	}
	if len(accounts) <= PartitionsPerWrite {
		return []string{""}, nil
	}
	var chunks []string
	all := make([]string, len(accounts))
	for i, a := range accounts {
		all[i] = sqlString(a)
	}
	for start := 0; start < len(all); start += PartitionsPerWrite {
		chunks = append(chunks, " WHERE account IN ("+strings.Join(all[start:min(start+PartitionsPerWrite, len(all))], ", ")+")")
	}
	return append(chunks, " WHERE account NOT IN ("+strings.Join(all, ", ")+")"), nil
}

// viewColumns are a view's columns as its manifest lists them.
func (w *Warehouse) viewColumns(ctx context.Context, name string) ([]ManifestColumn, error) {
	var cols []ManifestColumn
	err := w.scanRows(ctx, "DESCRIBE "+name, func(r *sql.Rows) error {
		vals := make([]any, 6)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return err
		}
		c := ManifestColumn{Name: fmt.Sprint(vals[0]), Type: strings.ToUpper(fmt.Sprint(vals[1])), Nullable: true}
		c.InPath = c.Name == "account"
		cols = append(cols, c)
		return nil
	})
	return cols, err
}

// viewsQueued is the table_name of the publish queue's row that says the
// views are due.
const viewsQueued = "main"

// viewsDue says whether the views are queued for the Parquet tree.
func (w *Warehouse) viewsDue(ctx context.Context) (bool, error) {
	var due bool
	if err := w.conn.QueryRowContext(ctx, `SELECT count(*) > 0 FROM meta.publish_queue WHERE table_name = ?`, viewsQueued).Scan(&due); err != nil {
		return false, fmt.Errorf("read the Parquet queue: %w", err)
	}
	return due, nil
}

// queueViews marks the views due when the checkpoint queued any table;
// the caller holds the checkpoint's transaction.
func (w *Warehouse) queueViews(ctx context.Context, runID string) error {
	_, err := w.execSQL(ctx, `INSERT INTO meta.publish_queue
		SELECT ?, '*', 0, 0, ? WHERE EXISTS (SELECT 1 FROM meta.publish_queue WHERE table_name <> ?)
		ON CONFLICT DO UPDATE SET run_id = excluded.run_id`, viewsQueued, runID, viewsQueued)
	return err
}

func (w *Warehouse) publishView(ctx context.Context, root string, v View, runID string) (done []Published, err error) {
	name := Quote(v.Schema) + "." + Quote(v.Name)
	cols, err := w.viewColumns(ctx, name)
	if err != nil {
		return nil, err
	}
	chunks, err := w.viewChunks(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, v.Schema, v.Name)
	token := publishToken()
	if err := os.MkdirAll(dir, 0o755); err != nil { // DuckDB makes only the accounts' folders
		return nil, err
	}
	defer func() {
		if err != nil {
			removeWritten(dir, token) // what is not in place yet; a full disk wants the room back
		}
	}()
	for _, where := range chunks {
		copySQL := fmt.Sprintf(`COPY (SELECT * FROM %s%s) TO %s (FORMAT parquet, COMPRESSION zstd, %s, PARTITION_BY (account), FILE_EXTENSION 'tmp', FILENAME_PATTERN %s, OVERWRITE_OR_IGNORE)`,
			name, where, sqlString(dir), rowGroups(RowGroupRows, RowGroupBytes), sqlString(tempPrefix(PartitionFile, token)+"{i}"))
		if err := w.execCopy(ctx, copySQL); err != nil {
			return nil, fmt.Errorf("write: %w", err)
		}
	}
	// The accounts are those the write left a file for, and their rows
	// are in the files' footers: the view runs once.
	counts := map[string]int64{}
	written := map[string]string{} // by account
	stale := map[string][]string{} // by account folder: what a killed publisher left
	var gone []string              // folders of accounts the view no longer has
	for _, d := range accountDirs(dir) {
		a := strings.TrimPrefix(filepath.Base(d), "account=")
		files, left := temps(d, PartitionFile, token)
		stale[d] = left
		switch len(files) {
		case 0:
			gone = append(gone, d)
			continue
		case 1:
		default:
			return nil, fmt.Errorf("account=%s: the partitioned write left %d files, want 1", a, len(files))
		}
		var n int64
		if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)`, files[0]).Scan(&n); err != nil {
			return nil, fmt.Errorf("account=%s: read the written file's row count: %w", a, err)
		}
		counts[a], written[a] = n, files[0]
	}
	accounts := make([]string, 0, len(counts))
	for a := range counts {
		accounts = append(accounts, a)
	}
	sort.Strings(accounts)
	m := Manifest{Table: v.Schema + "." + v.Name, Doc: v.Doc, HivePath: "account=<account>/" + PartitionFile, Columns: cols,
		Partitions: []ManifestPartition{}, RunID: runID, WrittenAt: time.Now().UTC()}
	for _, a := range accounts {
		pdir := filepath.Join(dir, "account="+a)
		if err := syncFile(written[a]); err != nil {
			return done, err
		}
		if err := os.Rename(written[a], filepath.Join(pdir, PartitionFile)); err != nil {
			return done, err
		}
		if err := syncFile(pdir); err != nil {
			return done, err
		}
		removeAll(stale[pdir])
		done = append(done, Published{Table: m.Table, Dir: pdir, Rows: counts[a]})
		m.Partitions = append(m.Partitions, ManifestPartition{Path: "account=" + a + "/" + PartitionFile, Account: a, Rows: counts[a], RunID: runID})
		m.Rows += counts[a]
	}
	// Accounts the view no longer has.
	for _, d := range gone {
		if err := os.Remove(filepath.Join(d, PartitionFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return done, err
		}
		removeAll(stale[d])
		os.Remove(d)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return done, err
	}
	return done, writeFileAtomically(dir, ManifestFile, append(data, '\n'))
}

// writeFileAtomically writes dir/name through a temporary file renamed
// into place.
func writeFileAtomically(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	removeStaleTemps(dir, name)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", name, os.Getpid()))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncFile(dir)
}
