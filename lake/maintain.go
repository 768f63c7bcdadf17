package lake

// `lake maintain`: small files compacted per partition, snapshots older
// than the retention expired, and orphan files removed. Each step is
// safe while other hosts publish: a compaction and an expiry are
// ordinary commits, retried against the reloaded table (a compaction
// whose files another host replaced meanwhile is dropped); an orphan is
// removed only once it is older than any publish in flight can be.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/load"
)

// SmallFile is the size below which a partition's files are compacted.
const SmallFile = 32 << 20

// MaintainOptions are `lake maintain`'s: Keep is how long snapshots are
// kept (the current one always is); OrphanAge how old a file no snapshot
// references must be to be removed.
type MaintainOptions struct {
	Keep, OrphanAge time.Duration
}

// Maintained is what a maintenance did.
type Maintained struct {
	Tables     int
	Compacted  int // partitions whose small files became one
	FilesMoved int // small files those replaced
	Expired    int // snapshots
	Orphans    int
	Bytes      int64 // of the orphans removed
	Retries    int
}

// Line says it in a line.
func (m Maintained) Line() string {
	return fmt.Sprintf("%d table(s): %d partition(s) compacted (%d small files into %d), %d snapshot(s) expired, %d orphan file(s) removed (%.1f MB), %d commit(s) retried after another host's",
		m.Tables, m.Compacted, m.FilesMoved, m.Compacted, m.Expired, m.Orphans, float64(m.Bytes)/1e6, m.Retries)
}

// Maintain maintains every lake table.
func Maintain(ctx context.Context, cfg *config.Config, opt MaintainOptions, hook func(string)) (Maintained, error) {
	l, err := Open(ctx, cfg, hook)
	if err != nil {
		return Maintained{}, err
	}
	defer l.Close()
	duck, err := load.OpenScratch(ctx)
	if err != nil {
		return Maintained{}, err
	}
	defer duck.Close()
	var m Maintained
	for _, t := range AllTargets() {
		id := table.Identifier{t.Namespace, t.Name}
		tbl, err := l.loadTable(ctx, id)
		if err != nil {
			return m, err
		}
		if tbl == nil {
			continue
		}
		m.Tables++
		if tbl, err = l.compact(ctx, duck, tbl, &m); err != nil {
			return m, fmt.Errorf("lake table %s: compact: %w", t.FullName(), err)
		}
		if tbl, err = l.expire(ctx, tbl, opt.Keep, &m); err != nil {
			return m, fmt.Errorf("lake table %s: expire snapshots: %w", t.FullName(), err)
		}
		if err := l.removeOrphans(ctx, tbl, opt.OrphanAge, &m); err != nil {
			return m, fmt.Errorf("lake table %s: remove orphan files: %w", t.FullName(), l.storageError(err))
		}
	}
	return m, nil
}

// compact rewrites each partition's small files into one.
func (l *Lake) compact(ctx context.Context, duck *load.Warehouse, tbl *table.Table, m *Maintained) (*table.Table, error) {
	files, err := liveFiles(ctx, tbl)
	if err != nil {
		return nil, l.storageError(err)
	}
	groups := map[string][]string{}
	var order []string
	for _, f := range files {
		if f.FileSizeBytes() >= SmallFile {
			continue
		}
		k := fmt.Sprint(f.Partition()) // fmt sorts a map's keys
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f.FilePath())
	}
	for _, k := range order {
		if len(groups[k]) < 2 {
			continue
		}
		next, ok, err := l.compactPartition(ctx, duck, tbl, groups[k], m)
		if err != nil {
			return nil, err
		}
		tbl = next
		if ok {
			m.Compacted++
			m.FilesMoved += len(groups[k])
		}
	}
	return tbl, nil
}

// compactPartition replaces old (one partition's files) by one file with
// their rows. ok is false when another host replaced them first.
func (l *Lake) compactPartition(ctx context.Context, duck *load.Warehouse, tbl *table.Table, old []string, m *Maintained) (*table.Table, bool, error) {
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, false, l.storageError(err)
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return nil, false, errors.New("the lake's storage cannot be written")
	}
	dir, err := os.MkdirTemp("", "repairshop-compact-*")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(dir)
	var local []string
	for i, p := range old {
		lp := filepath.Join(dir, fmt.Sprintf("in-%d.parquet", i))
		if err := download(fsys, p, lp); err != nil {
			return nil, false, l.storageError(err)
		}
		local = append(local, lp)
	}
	var cols []load.LakeColumn
	for _, f := range tbl.Schema().Fields() {
		cols = append(cols, load.LakeColumn{Name: f.Name, ID: f.ID})
	}
	out := filepath.Join(dir, "out.parquet")
	if err := duck.RewriteLakeFiles(ctx, local, cols, out); err != nil {
		return nil, false, err
	}
	// Beside the old files (path.Dir would fold file:/// into file:/).
	dest := old[0][:strings.LastIndex(old[0], "/")] + "/compacted-" + newPublishID() + ".parquet"
	if err := upload(wfs, out, dest); err != nil {
		return nil, false, l.storageError(err)
	}
	props := iceberg.Properties{PropHost: l.Host, PropRun: "maintain"}
	for attempt := 0; ; attempt++ {
		files, err := liveFiles(ctx, tbl)
		if err != nil {
			fsys.Remove(dest)
			return nil, false, l.storageError(err)
		}
		live := map[string]bool{}
		for _, f := range files {
			live[f.FilePath()] = true
		}
		for _, p := range old {
			if !live[p] {
				fsys.Remove(dest) // another host replaced them: nothing to compact
				return tbl, false, nil
			}
		}
		tx := tbl.NewTransaction()
		if err := tx.ReplaceDataFiles(ctx, old, []string{dest}, props); err != nil {
			fsys.Remove(dest)
			return nil, false, l.storageError(err)
		}
		next, err := tx.Commit(ctx)
		if err == nil {
			return next, true, nil
		}
		if !isConflict(err) || attempt >= l.Retries {
			fsys.Remove(dest)
			return nil, false, err
		}
		m.Retries++
		l.sleep(attempt)
		if tbl, err = l.cat.LoadTable(ctx, tbl.Identifier()); err != nil {
			fsys.Remove(dest)
			return nil, false, err
		}
	}
}

// expire drops the snapshots older than keep (never the current one);
// iceberg-go then deletes the files only they referenced.
func (l *Lake) expire(ctx context.Context, tbl *table.Table, keep time.Duration, m *Maintained) (*table.Table, error) {
	for attempt := 0; ; attempt++ {
		before := len(tbl.Metadata().Snapshots())
		tx := tbl.NewTransaction()
		if err := tx.ExpireSnapshots(table.WithOlderThan(keep), table.WithRetainLast(1)); err != nil {
			return nil, err
		}
		next, err := tx.Commit(ctx)
		if err == nil {
			m.Expired += before - len(next.Metadata().Snapshots())
			return next, nil
		}
		if !isConflict(err) || attempt >= l.Retries {
			return nil, err
		}
		m.Retries++
		l.sleep(attempt)
		if tbl, err = l.cat.LoadTable(ctx, tbl.Identifier()); err != nil {
			return nil, err
		}
	}
}

// removeOrphans removes the files under the table's folder that its
// metadata does not reach and that are older than age.
func (l *Lake) removeOrphans(ctx context.Context, tbl *table.Table, age time.Duration, m *Maintained) error {
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return err
	}
	lister, ok := fsys.(icebergio.ListableIO)
	if !ok {
		return errors.New("the lake's storage cannot be listed")
	}
	refs, err := referenced(tbl, fsys)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-age)
	var orphans []string
	var sizes []int64
	err = lister.WalkDir(tbl.Location(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || refs[local(p)] {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil // gone meanwhile, or perhaps a publish in flight
		}
		orphans = append(orphans, p)
		sizes = append(sizes, info.Size())
		return nil
	})
	if err != nil {
		return err
	}
	for i, p := range orphans {
		if !strings.Contains(p, "://") && strings.HasPrefix(tbl.Location(), "file://") {
			p = "file://" + p
		}
		if err := fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		m.Orphans++
		m.Bytes += sizes[i]
	}
	return nil
}

// referenced are the files the table's metadata reaches: its metadata
// files, and for every snapshot kept, the manifest list, the manifests
// and their live data files.
func referenced(tbl *table.Table, fsys icebergio.IO) (map[string]bool, error) {
	refs := map[string]bool{local(tbl.MetadataLocation()): true}
	for e := range tbl.Metadata().PreviousFiles() {
		refs[local(e.MetadataFile)] = true
	}
	for _, s := range tbl.Metadata().Snapshots() {
		refs[local(s.ManifestList)] = true
		manifests, err := s.Manifests(fsys)
		if err != nil {
			return nil, err
		}
		for _, man := range manifests {
			refs[local(man.FilePath())] = true
			entries, err := man.FetchEntries(fsys, true)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				refs[local(e.DataFile().FilePath())] = true
			}
		}
	}
	return refs, nil
}

// local is a location as a walk of its storage names it: a file://
// location's path.
func local(loc string) string { return strings.TrimPrefix(loc, "file://") }

// download copies a file of the lake to a local path.
func download(fsys icebergio.IO, from, to string) error {
	in, err := fsys.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	return copyClose(out, in)
}
