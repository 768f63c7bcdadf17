package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// A run holds the warehouse file open for writing from start to end, and
// DuckDB then lets no other process open it, not even to read. A first
// RepairOps export paced to its hourly quota can take hours. So that ad hoc
// SQL keeps working meanwhile, OpenParquet serves the same table names
// from the Parquet files the last runs published: a consistent snapshot,
// as each table's manifest lists its files.

// ParquetSnapshot describes what OpenParquet found.
type ParquetSnapshot struct {
	Root   string
	Tables int
	// RunID and WrittenAt are the newest among the manifests: the run whose
	// publication the snapshot shows.
	RunID     string
	WrittenAt time.Time
}

// OpenParquet opens a scratch in-memory database in which every table
// published under root is a view over its Parquet files (source.table, as
// in the warehouse, with the same columns and types). meta.* is not
// published, so it is not there.
func OpenParquet(ctx context.Context, root string) (*Warehouse, ParquetSnapshot, error) {
	snap := ParquetSnapshot{Root: root}
	manifests, err := filepath.Glob(filepath.Join(root, "*", "*", ManifestFile))
	if err != nil {
		return nil, snap, err
	}
	if len(manifests) == 0 {
		return nil, snap, fmt.Errorf("no published tables under %s (no %s found)", root, ManifestFile)
	}
	w, err := open(ctx, "", inMemory)
	if err != nil {
		return nil, snap, err
	}
	for _, path := range manifests {
		m, err := loadManifest(path)
		if err == nil {
			err = w.exec(ctx, manifestView(filepath.Dir(path), m)...)
		}
		if err != nil {
			w.Close()
			return nil, snap, fmt.Errorf("serve %s: %w", path, err)
		}
		snap.Tables++
		snap.RunID = max(snap.RunID, m.RunID)
		if m.WrittenAt.After(snap.WrittenAt) {
			snap.WrittenAt = m.WrittenAt
		}
	}
	return w, snap, nil
}

func loadManifest(path string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("not a manifest: %w", err)
	}
	if strings.Count(m.Table, ".") != 1 || len(m.Columns) == 0 {
		return m, errors.New("not a manifest: no table name or columns")
	}
	for _, c := range m.Columns {
		if !sqlType.MatchString(c.Type) {
			return m, fmt.Errorf("not a manifest: column %s has type %q", c.Name, c.Type)
		}
	}
	return m, nil
}

// sqlType is what a manifest's column types look like (VARCHAR,
// DECIMAL(18,2), TIMESTAMP WITH TIME ZONE): they are spliced into SQL.
var sqlType = regexp.MustCompile(`^[A-Z][A-Z0-9_ ]*(\([0-9, ]+\))?$`)

// manifestView is the SQL that serves one published table as a view over
// exactly the files its manifest lists, cast to the declared types.
func manifestView(dir string, m Manifest) []string {
	source, name, _ := strings.Cut(m.Table, ".")
	cols := make([]string, len(m.Columns))
	for i, c := range m.Columns {
		from := Quote(c.Name)
		if len(m.Partitions) == 0 {
			from = "NULL"
		}
		cols[i] = fmt.Sprintf("CAST(%s AS %s) AS %s", from, c.Type, Quote(c.Name))
	}
	body := "SELECT " + strings.Join(cols, ", ")
	if len(m.Partitions) == 0 {
		body += " WHERE false"
	} else {
		files := make([]string, len(m.Partitions))
		for i, p := range m.Partitions {
			files[i] = sqlString(filepath.Join(dir, filepath.FromSlash(p.Path)))
		}
		// The account is in the path only; read it as text, whatever it
		// looks like ("007" stays "007").
		body += fmt.Sprintf(" FROM read_parquet([%s], hive_partitioning = true, hive_types = {'account': VARCHAR})", strings.Join(files, ", "))
	}
	return []string{
		"CREATE SCHEMA IF NOT EXISTS " + Quote(source),
		fmt.Sprintf("CREATE OR REPLACE VIEW %s.%s AS %s", Quote(source), Quote(name), body),
	}
}
