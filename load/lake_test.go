package load

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/repairshop/export/internal/tiny"
)

// A table of more partitions (account and month) than DuckDB keeps files
// open for is written a few partitions at a time: each partition is one
// file of its own rows, every row written once. In one COPY, a chain's
// hundreds of accounts ran out of memory, and past 100 open files DuckDB
// splits partitions across files.
func TestLakeFilesOfManyPartitionsAreWrittenAFewAtATime(t *testing.T) {
	w, dir := openTemp(t)
	const months, perMonth = 130, 20
	loadMonths(t, w, months, perMonth)
	// DuckDB flushes its partitions every so many rows (65,536 as the
	// warehouse opens): few rows here, so that this small table's write
	// flushes while many partitions are open, as a large one's does.
	if err := w.exec(ctx, "SET partitioned_write_flush_threshold = 100"); err != nil {
		t.Fatal(err)
	}
	tb := tiny.JobsTable
	cols := make([]LakeColumn, len(tb.Columns))
	for i, c := range tb.Columns {
		cols[i] = LakeColumn{Name: c.Name, ID: i + 1}
	}
	out := filepath.Join(filepath.Dir(dir), "lake-files")
	files, err := w.WriteLakeFiles(ctx, tb.FullName(), cols, tb.PartitionBy, []string{"north"}, out, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != months {
		t.Fatalf("%d files for %d partitions", len(files), months)
	}
	seen := map[string]bool{}
	for _, f := range files {
		got := one(t, w, fmt.Sprintf(`SELECT count(*) || ' ' || count(DISTINCT strftime(%s, '%%Y-%%m')) || ' ' || min(strftime(%s, '%%Y-%%m')) FROM read_parquet('%s')`,
			Quote(tb.PartitionBy), Quote(tb.PartitionBy), f.Path))
		var n, distinct int
		var month string
		fmt.Sscan(got, &n, &distinct, &month)
		if n != perMonth || distinct != 1 || seen[month] || f.Account != "north" {
			t.Errorf("%s (%s): %d rows of %d months (first %s), want %d rows of one month not seen before", f.Path, f.Account, n, distinct, month, perMonth)
		}
		seen[month] = true
	}
}

// A config change the conformed views read (a currency, a status rule)
// queues them for the Parquet tree and the lake, though no row changed;
// the same config again queues nothing. The lake gets the accounts this
// warehouse has rows for: metro, named by the config but loaded by
// another host (--shard), is not this host's to publish.
func TestAConfigChangeTheViewsReadQueuesThem(t *testing.T) {
	w, _ := openTemp(t)
	loadMonths(t, w, 1, 1) // north has a row
	queued := func() string {
		return one(t, w, `SELECT (SELECT count(*) FROM meta.publish_queue WHERE table_name = 'main') || ' ' ||
			(SELECT coalesce(string_agg(account, ',' ORDER BY account), '') FROM meta.lake_queue WHERE table_name = 'main')`)
	}
	clear := func() {
		t.Helper()
		if err := w.exec(ctx, `DELETE FROM meta.publish_queue; DELETE FROM meta.lake_queue`); err != nil {
			t.Fatal(err)
		}
	}
	accounts := []AccountInfo{{Name: "north", Source: "mgr", Currency: "USD"}, {Name: "metro", Source: "repairops"}}
	rules := []StatusRule{{Account: "*", Label: "collected", Group: "done"}}
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"the first config", func() {}, "1 north"},
		{"the same config", func() {}, "0 "},
		{"another currency", func() { accounts[0].Currency = "EUR" }, "1 north"},
		{"another rule", func() { rules[0].Group = "waiting" }, "1 north"},
		{"a time zone", func() { accounts[1].Timezone = "Europe/Berlin" }, "1 north"},
		{"nothing again", func() {}, "0 "},
	}
	for _, s := range steps {
		clear()
		s.change()
		if err := w.SetAccounts(ctx, accounts, rules); err != nil {
			t.Fatal(err)
		}
		if got := queued(); got != s.want {
			t.Errorf("%s: views queued (Parquet, lake accounts) %q, want %q", s.name, got, s.want)
		}
	}
	// lake publish of the whole warehouse: the same accounts.
	clear()
	if err := w.QueueLakeAll(ctx, nil, "all"); err != nil {
		t.Fatal(err)
	}
	if got := queued(); got != "0 north" {
		t.Errorf("lake publish queued the views (Parquet, lake accounts) %q, want %q", got, "0 north")
	}
}

// A lake COPY runs on at most LakeThreads threads, whatever the host's
// cores (each thread holds partition buffers of its own), and under a cap
// lowered to what DuckDB holds plus CopyMemory; both come back after it.
func TestALakeCopyRunsOnFewThreadsUnderALowerCap(t *testing.T) {
	w, _ := openTemp(t)
	if err := w.exec(ctx, "SET threads = 4"); err != nil {
		t.Fatal(err)
	}
	capBefore := one(t, w, `SELECT current_setting('memory_limit')`)
	var threads int64
	var capDuring string
	if err := w.lowMemory(ctx, func() error {
		return w.conn.QueryRowContext(ctx, `SELECT current_setting('threads'), current_setting('memory_limit')`).Scan(&threads, &capDuring)
	}); err != nil {
		t.Fatal(err)
	}
	if threads != LakeThreads || sizeBytes(capDuring) >= sizeBytes(capBefore) || sizeBytes(capDuring) < CopyMemory {
		t.Errorf("during the COPY: %d threads, cap %s; want %d, above %d MiB and below %s", threads, capDuring, LakeThreads, CopyMemory>>20, capBefore)
	}
	if got := one(t, w, `SELECT current_setting('threads') || ' ' || current_setting('memory_limit')`); got != "4 "+capBefore {
		t.Errorf("after the COPY: %s, want 4 %s", got, capBefore)
	}
}
