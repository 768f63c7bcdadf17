package load

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// A partition of wide rows is written in row groups bounded by
// RowGroupBytes, not by RowGroupRows alone (which a month of rows seldom
// reaches, so a partitioned write held every partition whole), still as
// one file with every row; and insertion order, which staging relies on,
// is kept again after the write, and after a write that failed.
func TestWideRowsAreWrittenInRowGroupsOfBoundedSize(t *testing.T) {
	w, dir := openTemp(t)
	root := filepath.Join(filepath.Dir(dir), "parquet")
	const rows = 12000
	notes := strings.Repeat("x", 2000) // an undeclared field: kept in _extra
	recs := make([]string, rows)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"id":"%d","title":"N-%05d","created_at":"2026-03-%02dT10:00:00Z","status":"New","notes":"%s%d"}`, i, i, 1+i%28, notes, i)
	}
	loadRun(t, w, "r1", "["+strings.Join(recs, ",")+"]")
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "tiny", "jobs", "account=north", "year=2026", "month=3", "*"))
	if len(files) != 1 || filepath.Base(files[0]) != PartitionFile {
		t.Fatalf("partition files %v, want one %s", files, PartitionFile)
	}
	meta := one(t, w, fmt.Sprintf(`SELECT count(*) || ' ' || sum(num_rows) || ' ' || max(num_rows) FROM (SELECT DISTINCT row_group_id, row_group_num_rows AS num_rows FROM parquet_metadata('%s'))`, files[0]))
	var groups, total, largest int
	if _, err := fmt.Sscan(meta, &groups, &total, &largest); err != nil {
		t.Fatalf("%q: %v", meta, err)
	}
	// 12,000 rows of about 2 KB: 24 MB, at least three groups of 8 MB.
	if total != rows || groups < 3 || largest >= RowGroupRows {
		t.Errorf("%d rows in %d row groups (largest %d rows), want %d rows in at least 3", total, groups, largest, rows)
	}
	diff := one(t, w, fmt.Sprintf(`SELECT count(*) FROM ((SELECT id, _extra::VARCHAR FROM read_parquet('%[1]s') EXCEPT ALL SELECT id, _extra::VARCHAR FROM tiny.jobs)
		UNION ALL (SELECT id, _extra::VARCHAR FROM tiny.jobs EXCEPT ALL SELECT id, _extra::VARCHAR FROM read_parquet('%[1]s')))`, files[0]))
	if diff != "0" {
		t.Errorf("%s rows differ between the file and the table", diff)
	}
	if got := one(t, w, `SELECT current_setting('preserve_insertion_order')::VARCHAR`); got != "true" {
		t.Errorf("preserve_insertion_order is %s after the publish, want true", got)
	}
	// A COPY into a folder that cannot be made: a file stands there.
	blocker := filepath.Join(filepath.Dir(dir), "blocker")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.execCopy(ctx, fmt.Sprintf(`COPY (SELECT 1 AS n) TO '%s' (FORMAT parquet, %s)`, filepath.Join(blocker, "x.parquet"), rowGroups(RowGroupRows, RowGroupBytes))); err == nil {
		t.Error("a COPY into a file's path succeeded")
	}
	if got := one(t, w, `SELECT current_setting('preserve_insertion_order')::VARCHAR`); got != "true" {
		t.Errorf("preserve_insertion_order is %s after a failed write, want true", got)
	}
}

// A publish writes each partition's file beside the one it replaces, under
// a hidden temporary name, and renames it there: it makes no folder but
// the partitions' own (no staging tree to create and remove again), and it
// clears what a killed publisher left. A publish that fails part way
// leaves every file whole and none of its own temporary files; the next
// one publishes all.
func TestAPublishWritesBesideEachFile(t *testing.T) {
	w, dir := openTemp(t)
	root := filepath.Join(filepath.Dir(dir), "parquet")
	const months = PartitionsPerWrite + 12 // two COPYs
	page := func(status string) string {
		recs := make([]string, months)
		for i := range recs {
			recs[i] = jobJSON(i, fmt.Sprintf("%d-%02d-10T10:00:00Z", 2020+i/12, 1+i%12), status)
		}
		return "[" + strings.Join(recs, ",") + "]"
	}
	jobs := filepath.Join(root, "tiny", "jobs")
	partition := func(i int) string {
		return filepath.Join(jobs, "account=north", fmt.Sprintf("year=%d", 2020+i/12), fmt.Sprintf("month=%d", 1+i%12))
	}
	statuses := func() string {
		return one(t, w, fmt.Sprintf(`SELECT string_agg(DISTINCT status, ',') || ' ' || count(*) FROM read_parquet('%s/**/*.parquet')`, jobs))
	}
	temps := func() []string {
		var found []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".tmp") {
				found = append(found, p)
			}
			return nil
		})
		return found
	}
	dirs := func() map[string]bool {
		found := map[string]bool{}
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				found[p] = true
			}
			return nil
		})
		return found
	}

	loadRun(t, w, "r1", page("New"))
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	if got := statuses(); got != fmt.Sprintf("New %d", months) {
		t.Fatalf("the first publish: %s, want New %d", got, months)
	}
	before := dirs()

	// A killed publisher's file, and a folder that cannot be written (a
	// file stands where the last partition's folder is).
	stale := filepath.Join(partition(3), "."+PartitionFile+".1-killed-0.tmp")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	last := partition(months - 1)
	if err := os.RemoveAll(last); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(last, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	loadRun(t, w, "r2", page("Done"))
	if _, err := w.Publish(ctx, root); err == nil {
		t.Fatal("a publish into a partition folder that cannot be made succeeded")
	}
	for _, f := range temps() {
		if f != stale {
			t.Errorf("after the failed publish, its temporary file %s is left", f)
		}
	}
	// Each file whole: the old rows or the new ones.
	if got := one(t, w, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/**/*.parquet')`, jobs)); got != fmt.Sprint(months-1) {
		t.Errorf("after the failed publish the tree reads %s rows, want %d", got, months-1)
	}

	if err := os.Remove(last); err != nil {
		t.Fatal(err)
	}
	var made []string // folders that were not there before, at the first rename
	var mu sync.Mutex // the hook is called from the renaming goroutines
	w.SetHook(func(point string) {
		mu.Lock()
		defer mu.Unlock()
		if point != HookBeforeRename || made != nil {
			return
		}
		made = []string{}
		for d := range dirs() {
			if !before[d] {
				made = append(made, d)
			}
		}
	})
	pub, err := w.Publish(ctx, root)
	w.SetHook(nil)
	if err != nil {
		t.Fatal(err)
	}
	if made == nil {
		t.Fatal("the publish renamed no file")
	}
	if len(made) != 0 {
		sort.Strings(made)
		t.Errorf("while publishing partitions whose folders were there, folders made: %v", made)
	}
	if got := statuses(); got != fmt.Sprintf("Done %d", months) {
		t.Errorf("after the publish the tree reads %s, want Done %d", got, months)
	}
	if got := temps(); len(got) != 0 {
		t.Errorf("temporary files left: %v", got)
	}
	for i := range months {
		entries, _ := os.ReadDir(partition(i))
		if len(entries) != 1 || entries[0].Name() != PartitionFile {
			t.Errorf("%s holds %v, want only %s", partition(i), entries, PartitionFile)
		}
	}
	if n := one(t, w, `SELECT count(*) FROM meta.publish_queue WHERE table_name <> ?`, viewsQueued); n != "0" || len(pub) < months {
		t.Errorf("%s partitions still queued, %d published", n, len(pub))
	}
}
