package load

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
