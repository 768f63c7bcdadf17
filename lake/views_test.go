package lake_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A conformed view goes to the lake from its file in the local Parquet
// tree, which the run's Parquet publish wrote moments before, and from
// the view itself when that file may be stale: the views are queued for
// the Parquet tree, or the file's manifest has other columns than the
// view. The file is altered here so that the lake shows where its rows
// came from.
func TestAViewIsReadFromItsParquetFileOnlyWhileItIsCurrent(t *testing.T) {
	t.Parallel()
	s := startSims(t)
	h := newHost(t, s, []account{{"north", "mgr", "north"}}, "  catalog: sqlite://lake.db\n  warehouse: ./lake\n").builtBinary()
	if code, out := h.run(t, "run", "-c", h.config, "--no-progress"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	wh := filepath.Join(h.dir, "w.duckdb")
	view := filepath.Join(h.dir, "pq", "main", "tickets")
	file := filepath.Join(view, "account=north", "data.parquet")
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	if _, err := duck.Exec(fmt.Sprintf(`COPY (SELECT * REPLACE ('from the file' AS status) FROM read_parquet('%s')) TO '%s.new' (FORMAT parquet)`, file, file)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
	var rows int64
	if err := duck.QueryRow(fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s')`, file)).Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("the view's file holds %d rows (%v)", rows, err)
	}
	catalog, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "lake.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	fromFile := func(step string) int64 {
		t.Helper()
		if code, out := h.run(t, "lake", "publish", "-c", h.config); code != 0 {
			t.Fatalf("%s: lake publish: exit %d\n%s", step, code, out)
		}
		snap := currentSnapshot(t, catalog, "main", "tickets")
		if n := countWhere(t, snap.Files, "true"); n != rows {
			t.Fatalf("%s: the lake's main.tickets has %d rows, want %d", step, n, rows)
		}
		return countWhere(t, snap.Files, "status = 'from the file'")
	}
	if n := fromFile("current"); n != rows {
		t.Errorf("current file: %d of %d lake rows came from it", n, rows)
	}

	db, err := sql.Open("duckdb", wh)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO meta.publish_queue VALUES ('main', '*', 0, 0, 'test')`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n := fromFile("views queued"); n != 0 {
		t.Errorf("views queued for the Parquet tree: %d lake rows came from the stale file", n)
	}

	db, err = sql.Open("duckdb", wh)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`DELETE FROM meta.publish_queue WHERE table_name = 'main'`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(view, "_manifest.json")
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	cols := m["columns"].([]any)
	m["columns"] = cols[:len(cols)-1]
	b, _ = json.Marshal(m)
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := fromFile("other columns"); n != 0 {
		t.Errorf("a manifest of other columns: %d lake rows came from the file", n)
	}
}
