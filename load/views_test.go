package load

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/transform"
)

// A view of more accounts than one write takes is written a chunk of
// accounts at a time, with a last chunk for accounts only the view has;
// each account is one file of its own rows, counted in the manifest.
func TestAViewOfManyAccountsIsWrittenWhole(t *testing.T) {
	w, dir := openTemp(t)
	const accounts = PartitionsPerWrite + 12
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, "r1", KindExport, at); err != nil {
		t.Fatal(err)
	}
	var results []AccountResult
	for i := range accounts {
		a := fmt.Sprintf("shop-%02d", i)
		var recs []string
		for j := range i%3 + 1 {
			recs = append(recs, jobJSON(i*10+j, "2026-07-16T10:00:00-0600", "New"))
		}
		b, err := transform.Page(tiny.JobsTable, []byte("["+strings.Join(recs, ",")+"]"), transform.Meta{Account: a, RunID: "r1", ExtractedAt: at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Stage(ctx, a, b); err != nil {
			t.Fatal(err)
		}
		b.Release()
		results = append(results, AccountResult{Account: a, Source: tiny.Name, Requests: 1, Status: StatusOK})
	}
	if _, err := w.Finish(ctx, "r1", at.Add(time.Minute), StatusOK, results, ""); err != nil {
		t.Fatal(err)
	}
	v := View{Schema: "main", Name: "jobs_view", SQL: `SELECT account, id, status FROM tiny.jobs UNION ALL SELECT 'only-in-view', 'x', 'New'`}
	if err := w.EnsureViews(ctx, []View{v}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(filepath.Dir(dir), "parquet")
	pub, err := w.PublishViews(ctx, root, []View{v}, "r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != accounts+1 {
		t.Fatalf("%d account files published, want %d", len(pub), accounts+1)
	}
	var total int64
	for _, p := range pub {
		a := strings.TrimPrefix(filepath.Base(p.Dir), "account=")
		want := "1"
		if a != "only-in-view" {
			var i int
			fmt.Sscanf(a, "shop-%d", &i)
			want = fmt.Sprint(i%3 + 1)
		}
		if got := one(t, w, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s')`, filepath.Join(p.Dir, PartitionFile))); got != want || fmt.Sprint(p.Rows) != want {
			t.Errorf("%s: %s rows in its file, %d published, want %s", a, got, p.Rows, want)
		}
		total += p.Rows
	}
	var m Manifest
	b, err := os.ReadFile(filepath.Join(root, "main", "jobs_view", ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Rows != total || len(m.Partitions) != accounts+1 {
		t.Errorf("manifest: %d rows in %d partitions (%v), want %d in %d", m.Rows, len(m.Partitions), err, total, accounts+1)
	}

	// Written again: a killed publisher's file beside an account's is
	// cleared, and the folder of an account the view no longer has goes.
	viewDir := filepath.Join(root, "main", "jobs_view")
	stale := filepath.Join(viewDir, "account=shop-07", "."+PartitionFile+".1-killed-0.tmp")
	gone := filepath.Join(viewDir, "account=closed-shop")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gone, PartitionFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if pub, err = w.PublishViews(ctx, root, []View{v}, "r1", true); err != nil || len(pub) != accounts+1 {
		t.Fatalf("published again: %d account files (%v), want %d", len(pub), err, accounts+1)
	}
	entries, _ := os.ReadDir(filepath.Join(viewDir, "account=shop-07"))
	if len(entries) != 1 || entries[0].Name() != PartitionFile {
		t.Errorf("account=shop-07 holds %v, want only %s", entries, PartitionFile)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("the folder of an account the view no longer has is still there (%v)", err)
	}
	if got := one(t, w, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/*/*.parquet')`, viewDir)); got != fmt.Sprint(total) {
		t.Errorf("the view's files read %s rows, want %d", got, total)
	}
}
