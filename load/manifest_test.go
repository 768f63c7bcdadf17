package load

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/repairshop/export/internal/tiny"
)

func readManifest(t *testing.T, root, table string) Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "tiny", table, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, data)
	}
	return m
}

func TestManifestDescribesPublishedFiles(t *testing.T) {
	w, path := openTemp(t)
	root := filepath.Join(filepath.Dir(path), "pq")
	loadRun(t, w, "r1", "["+jobJSON(1, "2026-07-16T10:00:00-0600", "New")+","+jobJSON(2, "2026-08-01T10:00:00-0600", "New")+","+jobJSON(3, "2026-08-02T10:00:00-0600", "New")+"]")
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, root, "jobs")
	if m.Table != "tiny.jobs" || m.Rows != 3 || m.RunID != "r1" || len(m.Partitions) != 2 || m.PartitionBy != "created_at" {
		t.Fatalf("manifest = %+v", m)
	}
	for _, p := range m.Partitions {
		if _, err := os.Stat(filepath.Join(root, "tiny", "jobs", p.Path)); err != nil {
			t.Errorf("manifest partition %s: %v", p.Path, err)
		}
	}
	if p := m.Partitions[1]; p.Path != "account=north/year=2026/month=8/data.parquet" || p.Rows != 2 || p.Year != 2026 || p.Month != 8 {
		t.Errorf("partition = %+v", p)
	}
	types := map[string]string{}
	for _, c := range m.Columns {
		types[c.Name] = c.Type
		if c.Name == "account" && !c.InPath {
			t.Error("account not marked as a path column")
		}
	}
	if types["created_at"] != "TIMESTAMPTZ" || types["_extra"] != "JSON" || len(m.Columns) != len(tiny.JobsTable.Columns) {
		t.Errorf("columns = %v", m.Columns)
	}

	// A later run moves one ticket: the manifest follows, the July
	// partition disappears from it.
	loadRun(t, w, "r2", "["+jobJSON(1, "2026-08-05T10:00:00-0600", "Moved")+"]")
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	m = readManifest(t, root, "jobs")
	if m.Rows != 3 || m.RunID != "r2" || len(m.Partitions) != 1 || m.Partitions[0].Rows != 3 || m.Partitions[0].RunID != "r2" {
		t.Fatalf("manifest after a move = %+v", m)
	}
	// Nothing changed: nothing rewritten, the manifest included.
	before, _ := os.Stat(filepath.Join(root, "tiny", "jobs", ManifestFile))
	loadRun(t, w, "r3", "["+jobJSON(1, "2026-08-05T10:00:00-0600", "Moved")+"]")
	if _, err := w.Publish(ctx, root); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(root, "tiny", "jobs", ManifestFile))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("an unchanged run rewrote the manifest")
	}
}
