package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

var ctx = context.Background()

func openTemp(t *testing.T) (*Warehouse, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	// The vendors' tables, and the test source Tiny's (its jobs are the
	// tables these tests load: the engine knows no source).
	if err := w.Ensure(ctx, append(sources.Tables(), tiny.JobsTable)...); err != nil {
		t.Fatal(err)
	}
	return w, path
}

// jobJSON is a job of the test source Tiny, with a field its table does
// not declare (source).
func jobJSON(id int, created, status string) string {
	return fmt.Sprintf(`{"id":"%d","title":"N-%05d","created_at":%q,"status":%q,"source":"web"}`, id, id, created, status)
}

// loadRun stages the pages as one run for account north and commits it.
func loadRun(t *testing.T, w *Warehouse, runID string, pages ...string) Summary {
	t.Helper()
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, runID, KindExport, at); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		b, err := transform.Page(tiny.JobsTable, []byte(p), transform.Meta{Account: "north", RunID: runID, ExtractedAt: at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Stage(ctx, "north", b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	sum, err := w.Finish(ctx, runID, at.Add(time.Minute), StatusOK, []AccountResult{{Account: "north", Source: tiny.Name, Requests: int64(len(pages)), Status: StatusOK}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func one(t testing.TB, w *Warehouse, q string, args ...any) string {
	t.Helper()
	res, err := w.Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("%s: %v, want one value", q, res.Rows)
	}
	return res.Rows[0][0]
}

// snapshotSQL renders every stored job, bookkeeping columns included.
const snapshotSQL = `SELECT string_agg(concat_ws('|', id, run_id, extracted_at, status, _extra), ';' ORDER BY id) FROM tiny.jobs`

func TestUpsertIsIdempotent(t *testing.T) {
	w, _ := openTemp(t)
	page1 := "[" + jobJSON(1, "2026-07-16T10:00:00-0600", "New") + "," + jobJSON(2, "2026-08-01T10:00:00-0600", "New") + "]"
	page2 := "[" + jobJSON(3, "2026-08-02T10:00:00-0600", "Done") + `,{"id":4,"created_at":"bad"}]`
	s1 := loadRun(t, w, "r1", page1, page2)
	if got := s1.Totals(); got.Inserted != 3 || got.Rejected != 1 || got.Received != 3 {
		t.Fatalf("first run: %+v, want 3 inserted, 1 rejected", got)
	}
	before := one(t, w, snapshotSQL)

	s2 := loadRun(t, w, "r2", page1, page2)
	if got := s2.Totals(); got.Inserted != 0 || got.Updated != 0 || got.Unchanged != 3 {
		t.Fatalf("same data again: %+v, want all 3 unchanged", got)
	}
	if after := one(t, w, snapshotSQL); after != before {
		t.Fatalf("re-run changed stored rows:\n%s\n%s", before, after)
	}
	if n := one(t, w, `SELECT count(*) FROM tiny.jobs`); n != "3" {
		t.Fatalf("rows = %s, want 3", n)
	}

	// A changed record is updated, and only it gets the new run id.
	s3 := loadRun(t, w, "r3", "["+jobJSON(2, "2026-08-01T10:00:00-0600", "Repaired")+"]")
	if got := s3.Totals(); got.Updated != 1 || got.Inserted != 0 {
		t.Fatalf("changed record: %+v, want 1 updated", got)
	}
	if got := one(t, w, `SELECT string_agg(id || ':' || run_id || ':' || status, ',' ORDER BY id) FROM tiny.jobs`); got != "1:r1:New,2:r3:Repaired,3:r1:Done" {
		t.Fatalf("rows = %s", got)
	}
	// The run log and the reject.
	if got := one(t, w, `SELECT string_agg(run_id || '=' || status || '/' || rows_inserted || '/' || rows_unchanged || '/' || requests, ',' ORDER BY run_id) FROM meta.runs`); got != "r1=ok/3/0/2,r2=ok/0/3/2,r3=ok/0/0/1" {
		t.Fatalf("meta.runs = %s", got)
	}
	if got := one(t, w, `SELECT reason FROM meta.rejects WHERE run_id = 'r1'`); !strings.Contains(got, `column created_at: "bad"`) {
		t.Fatalf("reject reason = %q", got)
	}
	if got := one(t, w, `SELECT first_run_id || ' ' || example FROM meta.schema_drift WHERE table_name = 'tiny.jobs' AND field = 'source'`); got != `r1 "web"` {
		t.Fatalf("drift = %q", got)
	}
}

func TestTimestampsLandAsUTCInstants(t *testing.T) {
	w, _ := openTemp(t)
	loadRun(t, w, "r1", "["+jobJSON(1, "2026-07-16T10:00:00-0600", "New")+","+jobJSON(2, "2026-12-31T22:30:00-0600", "New")+"]")
	if got := one(t, w, `SELECT string_agg(epoch(created_at)::BIGINT::VARCHAR, ',' ORDER BY id) FROM tiny.jobs`); got != fmt.Sprintf("%d,%d", time.Date(2026, 7, 16, 16, 0, 0, 0, time.UTC).Unix(), time.Date(2027, 1, 1, 4, 30, 0, 0, time.UTC).Unix()) {
		t.Fatalf("epochs = %s", got)
	}
	if got := one(t, w, `SELECT typeof(created_at) FROM tiny.jobs LIMIT 1`); got != "TIMESTAMP WITH TIME ZONE" {
		t.Fatalf("type = %s", got)
	}
	// The year-end ticket belongs to January 2027 in UTC, whatever the machine's zone.
	if got := one(t, w, `SELECT year(created_at) || '-' || month(created_at) FROM tiny.jobs WHERE id = '2'`); got != "2027-1" {
		t.Fatalf("partition of 2026-12-31T22:30-0600 = %s, want 2027-1", got)
	}
}

func TestMoneyIsExact(t *testing.T) {
	tbl := schema.New(schema.Table{Source: "testsrc", Name: "prices", Key: []string{"id"}, Columns: []schema.Column{
		schema.Col(schema.String, "id"), schema.Col(schema.Money, "price"),
	}})
	w, _ := openTemp(t)
	if err := w.Ensure(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	w.BeginRun(ctx, "r1", KindExport, time.Now())
	b, err := transform.Page(tbl, []byte(`[{"id":"a","price":259.99},{"id":"b","price":"0.29"},{"id":"c","price":9999999999999999.99},{"id":"d","price":-0.01}]`), transform.Meta{Account: "x", RunID: "r1", ExtractedAt: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Stage(ctx, "x", b); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(ctx, "r1", time.Now(), StatusOK, nil, ""); err != nil {
		t.Fatal(err)
	}
	if got := one(t, w, `SELECT string_agg(price::VARCHAR, ' ' ORDER BY id) || ' ' || typeof(any_value(price)) || ' ' || (sum(price) FILTER (WHERE id IN ('a','b')))::VARCHAR FROM testsrc.prices`); got != "259.99 0.29 9999999999999999.99 -0.01 DECIMAL(18,2) 260.28" {
		t.Fatalf("prices = %s", got)
	}
}

func TestParquetMatchesTheTable(t *testing.T) {
	w, dir := openTemp(t)
	root := filepath.Join(filepath.Dir(dir), "parquet")
	var recs []string
	for i := 0; i < 300; i++ {
		recs = append(recs, jobJSON(i, time.Date(2026, time.Month(1+i%6), 1+i%27, 10, 0, 0, 0, time.FixedZone("", -6*3600)).Format("2006-01-02T15:04:05-0700"), "New"))
	}
	loadRun(t, w, "r1", "["+strings.Join(recs, ",")+"]")
	pub, err := w.Publish(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if pub := onlyTable(pub, "tiny.jobs"); len(pub) != 6 {
		t.Fatalf("published %d partitions, want 6 months", len(pub))
	}
	glob := filepath.Join(root, "tiny", "jobs", "**", "*.parquet")
	compare := func() {
		t.Helper()
		cols := columnList(tiny.JobsTable, "")
		pq := fmt.Sprintf("SELECT %s FROM read_parquet('%s', hive_partitioning = true)", cols, glob)
		tb := fmt.Sprintf("SELECT %s FROM tiny.jobs", cols)
		q := fmt.Sprintf(`SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s))`, pq, tb, tb, pq)
		if n := one(t, w, q); n != "0" {
			t.Fatalf("%s rows differ between Parquet and the table", n)
		}
	}
	compare()
	if got := one(t, w, fmt.Sprintf(`SELECT string_agg(DISTINCT typeof(created_at)) FROM read_parquet('%s')`, glob)); got != "TIMESTAMP WITH TIME ZONE" {
		t.Fatalf("created_at in Parquet is %s", got)
	}
	// Same data again: nothing to republish, nothing duplicated.
	loadRun(t, w, "r2", "["+strings.Join(recs, ",")+"]")
	if pub, err := w.Publish(ctx, root); err != nil || len(pub) != 0 {
		t.Fatalf("unchanged run republished %d partitions (%v)", len(pub), err)
	}
	// Moving a ticket to another month rewrites both partitions.
	loadRun(t, w, "r3", "["+jobJSON(0, "2026-03-15T10:00:00-0600", "Moved")+"]")
	if pub, err := w.Publish(ctx, root); err != nil || len(onlyTable(pub, "tiny.jobs")) != 2 || len(onlyTable(pub, "tiny.jobs_history")) != 2 {
		t.Fatalf("moved ticket republished %v (%v), want 2 partitions of the table and 2 of its history", pub, err)
	}
	compare()
	files, _ := filepath.Glob(filepath.Join(root, "tiny", "jobs", "account=north", "year=2026", "month=*", "*"))
	if len(files) != 6 {
		t.Fatalf("files = %v, want one data.parquet per month and no temporary files", files)
	}
}

func TestPublishQueueSurvivesACrashBeforePublish(t *testing.T) {
	w, path := openTemp(t)
	loadRun(t, w, "r1", "["+jobJSON(1, "2026-07-16T10:00:00-0600", "New")+"]")
	w.Close() // "crash": committed, never published
	w2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.Ensure(ctx, tiny.JobsTable); err != nil { // as every writer does on opening
		t.Fatal(err)
	}
	pub, err := w2.Publish(ctx, filepath.Join(t.TempDir(), "pq"))
	if pub = onlyTable(pub, "tiny.jobs"); err != nil || len(pub) != 1 || pub[0].Rows != 1 {
		t.Fatalf("publish after restart = %+v, %v; want the pending partition", pub, err)
	}
}

// A checkpoint that fails is dropped whole: none of its rows, cursors or
// archive marks is committed (the next run fetches its pages again), the
// staging area is empty, and the run still finishes, as failed.
func TestAFailedCheckpointCommitsNothing(t *testing.T) {
	w, _ := openTemp(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, "r1", KindExport, at); err != nil {
		t.Fatal(err)
	}
	page := "[" + jobJSON(1, "2026-07-16T10:00:00-0600", "New") + "," + jobJSON(2, "2026-08-01T10:00:00-0600", "New") + "]"
	b, err := transform.Page(tiny.JobsTable, []byte(page), transform.Meta{Account: "north", RunID: "r1", ExtractedAt: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Stage(ctx, "north", b); err != nil {
		t.Fatal(err)
	}
	b.Release()
	w.SetCursor("north", "jobs", "c1")
	w.MarkArchived("r1", "north", "north/r1.jsonl.zst", 1)
	// The run's statistics are written last in the transaction, after the
	// rows: without their table the checkpoint fails after it upserted.
	if err := w.exec(ctx, `ALTER TABLE meta.run_tables RENAME TO run_tables_away`); err != nil {
		t.Fatal(err)
	}
	if err := w.Checkpoint(ctx, "r1", at); err == nil {
		t.Fatal("checkpoint without meta.run_tables succeeded")
	}
	if err := w.exec(ctx, `ALTER TABLE meta.run_tables_away RENAME TO run_tables`); err != nil {
		t.Fatal(err)
	}
	if n := w.PendingRows(); n != 0 {
		t.Errorf("%d rows still staged after the failed checkpoint", n)
	}
	if got := one(t, w, `SELECT (SELECT count(*) FROM tiny.jobs) || '/' || (SELECT count(*) FROM meta.cursors) || '/' || (SELECT count(*) FROM meta.raw_archive)`); got != "0/0/0" {
		t.Errorf("tickets/cursors/archive marks after the failed checkpoint = %s, want 0/0/0", got)
	}
	if _, err := w.Finish(ctx, "r1", at.Add(time.Minute), StatusFailed, nil, "checkpoint failed"); err != nil {
		t.Fatalf("finish after a failed checkpoint: %v", err)
	}
	if got := one(t, w, `SELECT status || '/' || rows_inserted FROM meta.runs WHERE run_id = 'r1'`); got != "failed/0" {
		t.Errorf("run r1 = %s, want failed/0", got)
	}
	if got := loadRun(t, w, "r2", page).Totals(); got.Inserted != 2 {
		t.Errorf("the next run: %+v, want the 2 tickets inserted", got)
	}
}

// More partitions than DuckDB keeps files open for in one partitioned
// write (100): each still gets exactly one file, with its rows.
// loadMonths loads one run of perMonth jobs in each of months months (the
// months interleaved, as a table's rows are).
func loadMonths(t *testing.T, w *Warehouse, months, perMonth int) {
	t.Helper()
	var recs []string
	for j := range perMonth {
		for i := range months {
			created := time.Date(2015, time.Month(1+i), 1+j%28, 10, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05-0700")
			recs = append(recs, jobJSON(i*perMonth+j, created, "New"))
		}
	}
	loadRun(t, w, "r1", "["+strings.Join(recs, ",")+"]")
}

// checkMonthFiles fails unless every one of months partitions of tiny.jobs
// is one file of perMonth rows under root.
func checkMonthFiles(t *testing.T, w *Warehouse, root string, months, perMonth int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "tiny", "jobs", "account=north", "year=*", "month=*", "*"))
	if len(files) != months {
		t.Fatalf("%d files for %d partitions", len(files), months)
	}
	for _, f := range files {
		if filepath.Base(f) != PartitionFile {
			t.Fatalf("unexpected file %s", f)
		}
		if n := one(t, w, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s')`, f)); n != fmt.Sprint(perMonth) {
			t.Errorf("%s holds %s rows, want %d", f, n, perMonth)
		}
	}
}

func TestPublishManyPartitions(t *testing.T) {
	w, dir := openTemp(t)
	root := filepath.Join(filepath.Dir(dir), "parquet")
	const months, perMonth = 130, 100
	loadMonths(t, w, months, perMonth)
	// DuckDB flushes its partitions every so many rows (65,536 as the
	// warehouse opens): a few rows here, so that this small table's write
	// flushes while more than 100 partitions are open, as a large one's does.
	if err := w.exec(ctx, "SET partitioned_write_flush_threshold = 100"); err != nil {
		t.Fatal(err)
	}
	pub, err := w.Publish(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if pub := onlyTable(pub, "tiny.jobs"); len(pub) != months {
		t.Fatalf("published %d partitions, want %d", len(pub), months)
	}
	checkMonthFiles(t, w, root, months, perMonth)
}

// Partitions move into place several at a time. One that cannot (a
// folder stands where its file goes) fails the publish with its own name;
// the others are placed whole, the queue keeps the table, and the next
// publish, once the obstacle is gone, completes it.
func TestAPartitionThatCannotBePlacedFailsThePublishAlone(t *testing.T) {
	w, dir := openTemp(t)
	root := filepath.Join(filepath.Dir(dir), "parquet")
	const months, perMonth = 40, 5
	loadMonths(t, w, months, perMonth)
	blocked := filepath.Join(root, "tiny", "jobs", "account=north", "year=2016", "month=7", PartitionFile)
	if err := os.MkdirAll(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "x"), []byte("not a Parquet file"), 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := w.Publish(ctx, root)
	if err == nil || !strings.Contains(err.Error(), "tiny.jobs") || !strings.Contains(err.Error(), "account=north 2016-07") {
		t.Fatalf("publish: %v; want an error naming tiny.jobs account=north 2016-07", err)
	}
	if strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("the error is %d lines, want one: %v", strings.Count(err.Error(), "\n")+1, err)
	}
	if got := len(onlyTable(pub, "tiny.jobs")); got != months-1 {
		t.Errorf("%d partitions reported placed, want %d", got, months-1)
	}
	if q := one(t, w, `SELECT count(*) FROM meta.publish_queue WHERE table_name = 'tiny.jobs'`); q != fmt.Sprint(months) {
		t.Errorf("the queue holds %s of tiny.jobs' partitions, want all %d", q, months)
	}
	if left, _ := os.ReadDir(filepath.Dir(blocked)); len(left) != 1 {
		t.Errorf("the blocked partition's folder holds %d entries, want only the obstacle: the written file removed", len(left))
	}
	os.RemoveAll(blocked)
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	checkMonthFiles(t, w, root, months, perMonth)
	if q := one(t, w, `SELECT count(*) FROM meta.publish_queue WHERE table_name <> ?`, viewsQueued); q != "0" {
		t.Errorf("%s partitions still queued", q)
	}
}

func TestMemoryLimit(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.duckdb")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<30); err != nil { // sparse: 1 GiB
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env, path, want, err string
	}{
		{name: "the floor for a small warehouse", path: filepath.Join(t.TempDir(), "none.duckdb"), want: "256MiB"},
		{name: "half of a large warehouse file", path: big, want: "512MiB"},
		{name: "the environment sets it", env: "2GB", path: big, want: "2GB"},
		{name: "a malformed value is refused", env: "lots", path: big, err: `EXPORT_MEMORY_LIMIT="lots"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("EXPORT_MEMORY_LIMIT", tc.env)
			} else {
				t.Setenv("EXPORT_MEMORY_LIMIT", "")
				os.Unsetenv("EXPORT_MEMORY_LIMIT")
			}
			got, err := memoryLimit(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("memoryLimit = %q, %v; want an error naming %s", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("memoryLimit = %q, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// onlyTable keeps the partitions of one table.
func onlyTable(pub []Published, table string) []Published {
	var out []Published
	for _, p := range pub {
		if p.Table == table {
			out = append(out, p)
		}
	}
	return out
}

// A finished run gives back the memory of its keys (what it counted and
// what it saw, a row per key) before the publish and the lake need it,
// and the next run counts from none again.
func TestAFinishedRunGivesBackItsKeys(t *testing.T) {
	w, _ := openTemp(t)
	const jobs = 20000
	recs := make([]string, jobs)
	for i := range recs {
		recs[i] = jobJSON(i, "2026-07-16T10:00:00-0600", "New")
	}
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	inMemory := func() int64 {
		var n int64
		if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := w.BeginRun(ctx, "r1", KindExport, at); err != nil {
		t.Fatal(err)
	}
	b, err := transform.Page(tiny.JobsTable, []byte("["+strings.Join(recs, ",")+"]"), transform.Meta{Account: "north", RunID: "r1", ExtractedAt: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Stage(ctx, "north", b); err != nil {
		t.Fatal(err)
	}
	b.Release()
	if err := w.Checkpoint(ctx, "r1", at); err != nil {
		t.Fatal(err)
	}
	held := inMemory()
	if held < jobs*20 {
		t.Fatalf("after a checkpoint of %d rows the run's tables hold %d bytes: this test no longer sees them", jobs, held)
	}
	if _, err := w.Finish(ctx, "r1", at, StatusOK, []AccountResult{{Account: "north", Source: tiny.Name, Status: StatusOK}}, ""); err != nil {
		t.Fatal(err)
	}
	// The run's new rows stay in DuckDB's memory until a CHECKPOINT writes
	// them into the file, as the publish's first one does; what is left
	// after it would be the run's keys.
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if left := inMemory(); left > held/10 {
		t.Errorf("after the run finished, in-memory tables hold %d bytes (%d before): the run's keys were kept", left, held)
	}
	recs[0] = jobJSON(0, "2026-07-16T10:00:00-0600", "Done")
	s := loadRun(t, w, "r2", "["+strings.Join(recs[:3], ",")+"]", "["+recs[0]+"]")
	if got := s.Totals(); got.Updated != 1 || got.Unchanged != 2 || got.Inserted != 0 {
		t.Errorf("the next run: %+v, want 1 updated and 2 unchanged", got)
	}
}
