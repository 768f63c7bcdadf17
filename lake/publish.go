package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/repairshop/export/load"
)

// Snapshot summary properties a publish sets: who committed, for which
// run and accounts, and the publish's own id (to tell, after an error of
// unknown outcome, whether the commit landed).
const (
	PropHost     = "export.host"
	PropRun      = "export.run-id"
	PropPublish  = "export.publish-id"
	PropAccounts = "export.accounts"
)

// Commit is one table's publish.
type Commit struct {
	Table    string
	Accounts []string
	Files    int
	// Snapshot is the table's snapshot after the commit; Retries the
	// attempts that lost to another host's commit first.
	Snapshot int64
	Retries  int
	Created  bool
	// Took is the commit's own time: from the first attempt to the one
	// the catalog took, retries included (the files are written before).
	Took time.Duration
}

// Result is a publish: the commits it made.
type Result struct{ Commits []Commit }

// Retries counts the commits' retries.
func (r Result) Retries() int {
	n := 0
	for _, c := range r.Commits {
		n += c.Retries
	}
	return n
}

// Publish commits every target's queued accounts (all of a target's
// accounts when its lake table is new), one Iceberg commit per table, and
// takes them off the warehouse's queue once committed. A table whose
// commit keeps losing to other hosts is left queued (ErrConflict) while
// the others go on; any other failure stops the publish.
func (l *Lake) Publish(ctx context.Context, w *load.Warehouse, targets []Target, runID string) (Result, error) {
	queue, err := w.LakeQueue(ctx)
	if err != nil {
		return Result{}, err
	}
	if len(queue) > 0 {
		if err := l.probe(ctx); err != nil {
			return Result{}, err
		}
	}
	var res Result
	var conflicts []error
	viewsOK := true
	for _, t := range targets {
		c, err := l.publishTarget(ctx, w, t, queue[t.Queue], runID)
		if c.Table != "" {
			res.Commits = append(res.Commits, c)
		}
		switch {
		case errors.Is(err, ErrConflict):
			conflicts = append(conflicts, err)
			viewsOK = viewsOK && t.Queue != load.LakeViews
			continue
		case err != nil:
			return res, err
		}
		if t.Queue != load.LakeViews {
			if err := w.LakeDone(ctx, t.Queue, queue[t.Queue]); err != nil {
				return res, err
			}
		}
	}
	if viewsOK {
		if err := w.LakeDone(ctx, load.LakeViews, queue[load.LakeViews]); err != nil {
			return res, err
		}
	}
	return res, errors.Join(conflicts...)
}

// publishTarget writes a table's files for the accounts and commits them.
func (l *Lake) publishTarget(ctx context.Context, w *load.Warehouse, t Target, accounts []string, runID string) (Commit, error) {
	c := Commit{Table: t.FullName()}
	fail := func(what string, err error) (Commit, error) {
		return c, fmt.Errorf("lake table %s: %s: %w", t.FullName(), what, l.storageError(err))
	}
	desc, err := w.Describe(ctx, t.Namespace, t.Name)
	if err != nil {
		return fail("read its warehouse columns", err)
	}
	cols, err := columns(desc)
	if err != nil {
		return fail("map its columns", err)
	}
	id := table.Identifier{t.Namespace, t.Name}
	tbl, err := l.loadTable(ctx, id)
	if err != nil {
		return c, err
	}
	if tbl == nil {
		if tbl, c.Created, err = l.createTable(ctx, id, cols, t.TimeColumn); err != nil {
			return fail("create", err)
		}
	}
	if tbl.CurrentSnapshot() == nil {
		// A new table (or one whose first publish died before its
		// commit) takes every account the warehouse has.
		all, err := w.LakeAccounts(ctx, t.FullName())
		if err != nil {
			return fail("list its accounts", err)
		}
		accounts = union(accounts, all)
	}
	if len(accounts) == 0 {
		return Commit{}, nil
	}
	c.Accounts = accounts
	if err := layoutError(tbl.Schema(), tbl.Spec(), cols, t.TimeColumn); err != nil {
		return c, fmt.Errorf("lake table %s has another layout than this warehouse publishes: %w; publish to another warehouse or catalog, or drop that table", t.FullName(), err)
	}
	if tbl, err = l.evolve(ctx, tbl, cols); err != nil {
		return fail("add the warehouse's new columns", err)
	}
	paths, err := l.writeFiles(ctx, w, tbl, t, cols, accounts)
	if err != nil {
		return fail("write data files", err)
	}
	c.Files = len(paths)
	l.at(HookFilesWritten)
	if err := l.commit(ctx, &c, tbl, id, paths, runID); err != nil {
		l.remove(ctx, tbl, paths)
		return c, err
	}
	l.at(HookAfterCommit)
	return c, nil
}

// createTable creates a table (and its namespace); another host creating
// it at the same moment is no error.
func (l *Lake) createTable(ctx context.Context, id table.Identifier, cols []column, timeColumn string) (*table.Table, bool, error) {
	ns := table.Identifier{id[0]}
	if err := l.cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		if ok, _ := l.cat.CheckNamespaceExists(ctx, ns); !ok {
			return nil, false, fmt.Errorf("namespace %s: %w", id[0], err)
		}
	}
	sc := newSchema(cols)
	spec, err := partitionSpec(sc, timeColumn)
	if err != nil {
		return nil, false, err
	}
	tbl, err := l.cat.CreateTable(ctx, id, sc, catalog.WithPartitionSpec(&spec),
		catalog.WithProperties(iceberg.Properties{"format-version": "2", "write.parquet.compression-codec": "zstd"}))
	if err == nil {
		return tbl, true, nil
	}
	if t, lerr := l.loadTable(ctx, id); lerr == nil && t != nil {
		return t, false, nil // another host created it first
	}
	return nil, false, err
}

// evolve adds the warehouse's columns the lake table lacks (a schema
// evolution: old snapshots keep reading with their own schema).
func (l *Lake) evolve(ctx context.Context, tbl *table.Table, cols []column) (*table.Table, error) {
	for attempt := 0; ; attempt++ {
		var missing []column
		for _, c := range cols {
			if _, ok := tbl.Schema().FindFieldByName(c.name); !ok {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			return tbl, nil
		}
		tx := tbl.NewTransaction()
		us := tx.UpdateSchema(true, false)
		for _, c := range missing {
			us.AddColumn([]string{c.name}, c.typ, "", false, nil)
		}
		if err := us.Commit(); err != nil {
			return nil, err
		}
		next, err := tx.Commit(ctx)
		if err == nil {
			return next, nil
		}
		if !isConflict(err) || attempt >= l.Retries {
			return nil, err
		}
		l.sleep(attempt)
		if tbl, err = l.cat.LoadTable(ctx, tbl.Identifier()); err != nil {
			return nil, err
		}
	}
}

// writeFiles writes the accounts' rows with DuckDB into a local folder,
// then puts each file in the table's data folder under its partition's
// path. They are not in the table until the commit.
func (l *Lake) writeFiles(ctx context.Context, w *load.Warehouse, tbl *table.Table, t Target, cols []column, accounts []string) ([]string, error) {
	sc := tbl.Schema()
	lc := make([]load.LakeColumn, len(cols))
	for i, c := range cols {
		f, _ := sc.FindFieldByName(c.name)
		lc[i] = load.LakeColumn{Name: c.name, ID: f.ID}
	}
	dir, err := os.MkdirTemp("", "repairshop-lake-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files, err := w.WriteLakeFiles(ctx, t.FullName(), lc, t.TimeColumn, accounts, dir, l.parquet)
	if err != nil {
		return nil, err
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the warehouse's storage: %w", l.storageError(err))
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return nil, errors.New("the warehouse's storage cannot be written")
	}
	var paths []string
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f.Path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		dest := []string{strings.TrimSuffix(tbl.Location(), "/"), "data", "account=" + parts[0][len("__lake_account="):]}
		if t.TimeColumn != "" && len(parts) == 3 {
			dest = append(dest, t.TimeColumn+"_month="+strings.TrimPrefix(parts[1], "__lake_month="))
		}
		dest = append(dest, path.Base(parts[len(parts)-1]))
		p := strings.Join(dest, "/")
		if err := upload(wfs, f.Path, p); err != nil {
			l.remove(ctx, tbl, paths)
			return nil, fmt.Errorf("put %s: %w", path.Base(p), l.storageError(err))
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// upload copies a local file to the table's storage.
func upload(wfs icebergio.WriteFileIO, local, dest string) error {
	in, err := os.Open(local)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := wfs.Create(dest)
	if err != nil {
		return err
	}
	return copyClose(out, in)
}

// copyClose copies in to out and closes out: a file is whole only once
// its close (an object store's upload) succeeded.
func copyClose(out io.WriteCloser, in io.Reader) error {
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// commit replaces the accounts' files by paths in one Iceberg commit,
// retrying on a reloaded table when another host committed first. The
// new files' footers are read once, before the first attempt: a retry
// only lists the accounts' current files and commits again, which keeps
// the window another host's commit can fall into short.
func (l *Lake) commit(ctx context.Context, c *Commit, tbl *table.Table, id table.Identifier, paths []string, runID string) error {
	pub := newPublishID()
	props := iceberg.Properties{PropHost: l.Host, PropRun: runID, PropPublish: pub, PropAccounts: strings.Join(c.Accounts, ",")}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return fmt.Errorf("lake table %s: %w", c.Table, l.storageError(err))
	}
	add := make([]iceberg.DataFile, len(paths))
	for i, p := range paths {
		if add[i], err = table.FileToDataFile(ctx, fsys, p, tbl.Schema(), tbl.Spec(), 0, tbl.Properties()); err != nil {
			return fmt.Errorf("lake table %s: read the footer of %s: %w", c.Table, path.Base(p), l.storageError(err))
		}
	}
	start := time.Now()
	defer func() { c.Took = time.Since(start) }()
	for attempt := 0; ; attempt++ {
		del, err := filesOf(ctx, tbl, c.Accounts)
		if err == nil && len(del) == 0 && len(add) == 0 {
			return nil // nothing there, nothing to add
		}
		tx := tbl.NewTransaction()
		if err == nil {
			err = tx.ReplaceDataFilesWithDataFiles(ctx, del, add, props)
		}
		if err != nil {
			// lake maintain may have expired the snapshot this table was
			// loaded at, and removed its manifests: reload and go again.
			if gone(err) && attempt < l.Retries {
				if tbl, err = l.cat.LoadTable(ctx, id); err != nil {
					return fmt.Errorf("lake table %s: reload: %w", c.Table, catalogError(err))
				}
				c.Retries++
				continue
			}
			return fmt.Errorf("lake table %s: stage the commit: %w", c.Table, l.storageError(err))
		}
		staged, _ := tx.StagedTable()
		l.at(HookBeforeCommit)
		next, err := tx.Commit(ctx)
		if err == nil {
			c.Snapshot = next.CurrentSnapshot().SnapshotID
			return nil
		}
		// Whatever the error, the table as the catalog has it now says
		// whether this commit landed.
		reloaded, lerr := l.cat.LoadTable(ctx, id)
		if lerr != nil {
			return fmt.Errorf("lake table %s: commit: %w", c.Table, err)
		}
		if s := committed(reloaded, pub); s != 0 {
			c.Snapshot = s
			return nil
		}
		l.dropAttempt(tbl, staged, fsys)
		if !isConflict(err) {
			return fmt.Errorf("lake table %s: commit: %w", c.Table, err)
		}
		if attempt >= l.Retries {
			return fmt.Errorf("lake table %s: %w (%d attempts); the next run publishes it", c.Table, ErrConflict, attempt+1)
		}
		c.Retries++
		l.sleep(attempt)
		tbl = reloaded
	}
}

// dropAttempt removes what a commit that did not land wrote: its
// snapshot's manifest list and the manifests it wrote anew (those its
// parent, the table it was built on, does not have). Best effort: lake
// maintain removes what is left.
func (l *Lake) dropAttempt(base *table.Table, staged *table.StagedTable, fsys icebergio.IO) {
	if staged == nil || staged.CurrentSnapshot() == nil {
		return
	}
	snap := staged.CurrentSnapshot()
	if base.CurrentSnapshot() != nil && snap.SnapshotID == base.CurrentSnapshot().SnapshotID {
		return // the attempt made no snapshot
	}
	kept := map[string]bool{}
	if parent := base.CurrentSnapshot(); parent != nil {
		if ms, err := parent.Manifests(fsys); err == nil {
			for _, m := range ms {
				kept[m.FilePath()] = true
			}
		} else {
			return // cannot tell which are new
		}
	}
	if ms, err := snap.Manifests(fsys); err == nil {
		for _, m := range ms {
			if !kept[m.FilePath()] {
				fsys.Remove(m.FilePath())
			}
		}
	}
	fsys.Remove(snap.ManifestList)
}

// sleep waits before a retry: Backoff doubled per attempt up to
// MaxBackoff, with jitter (half to one and a half of it), so that hosts
// that collided do not collide again in step.
func (l *Lake) sleep(attempt int) {
	d := min(l.Backoff<<min(attempt, 10), MaxBackoff)
	if d > 0 {
		time.Sleep(d/2 + time.Duration(mrand.Int64N(int64(d))))
	}
}

// MaxBackoff bounds the wait between two attempts of a commit.
const MaxBackoff = 2 * time.Second

// isConflict says whether a commit lost to another commit: iceberg-go
// checks the transaction's requirements against the catalog's current
// metadata ("requirement failed"), and the SQL catalog's compare-and-swap
// catches the rest (ErrCommitFailed); SQLite may also be busy.
func isConflict(err error) bool {
	if errors.Is(err, table.ErrCommitFailed) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "requirement failed") || strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}

// gone says whether err is a metadata file that is not there: the table
// moved on (an expiry removed its old snapshot's files) since it was
// loaded.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "file does not exist")
}

// committed is the snapshot a publish made, if the table has it.
func committed(tbl *table.Table, pub string) int64 {
	snaps := tbl.Metadata().Snapshots()
	for i := len(snaps) - 1; i >= 0; i-- {
		if s := snaps[i].Summary; s != nil && s.Properties[PropPublish] == pub {
			return snaps[i].SnapshotID
		}
	}
	return 0
}

// liveFiles are the data files of the table's current snapshot (none
// before its first).
func liveFiles(ctx context.Context, tbl *table.Table) ([]iceberg.DataFile, error) {
	if tbl.CurrentSnapshot() == nil {
		return nil, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]iceberg.DataFile, len(tasks))
	for i, t := range tasks {
		out[i] = t.File
	}
	return out, nil
}

// accountOf is a data file's account: its identity partition's value.
func accountOf(f iceberg.DataFile) string {
	a, _ := f.Partition()[accountPartitionID].(string)
	return a
}

// filesOf are the live data files of the accounts' partitions.
func filesOf(ctx context.Context, tbl *table.Table, accounts []string) ([]iceberg.DataFile, error) {
	files, err := liveFiles(ctx, tbl)
	if err != nil {
		return nil, err
	}
	var out []iceberg.DataFile
	for _, f := range files {
		if slices.Contains(accounts, accountOf(f)) {
			out = append(out, f)
		}
	}
	return out, nil
}

// remove deletes files a failed publish wrote (best effort: lake
// maintain removes what is left).
func (l *Lake) remove(ctx context.Context, tbl *table.Table, paths []string) {
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return
	}
	for _, p := range paths {
		fsys.Remove(p)
	}
}

func newPublishID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
