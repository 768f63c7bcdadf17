package load

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/repairshop/export/schema"
)

// ManifestFile is the name of a table's manifest in its Parquet folder.
const ManifestFile = "_manifest.json"

// Manifest describes a published table: what a BI tool or a script needs to
// read it without guessing, and row counts to check it against.
type Manifest struct {
	Table       string              `json:"table"`
	Doc         string              `json:"doc,omitempty"`
	Parent      string              `json:"parent,omitempty"`
	PrimaryKey  []string            `json:"primary_key"`
	PartitionBy string              `json:"partition_by,omitempty"`
	HivePath    string              `json:"hive_path"`
	Columns     []ManifestColumn    `json:"columns"`
	Partitions  []ManifestPartition `json:"partitions"`
	Rows        int64               `json:"rows"`
	RunID       string              `json:"run_id"` // the last run that changed the table
	WrittenAt   time.Time           `json:"written_at"`
}

// ManifestColumn is one column of the Parquet files (account is in the path).
type ManifestColumn struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	InPath   bool   `json:"in_path,omitempty"`
}

// ManifestPartition is one published file.
type ManifestPartition struct {
	Path    string `json:"path"` // relative to the table folder
	Account string `json:"account"`
	Year    int    `json:"year,omitempty"`
	Month   int    `json:"month,omitempty"`
	Rows    int64  `json:"rows"`
	RunID   string `json:"run_id"` // the last run that changed the partition
}

// partitions reads the committed table's partitions: rows and last run.
func (w *Warehouse) partitions(ctx context.Context, t *schema.Table) ([]ManifestPartition, error) {
	var out []ManifestPartition
	err := w.scanRows(ctx, fmt.Sprintf(`SELECT account, %s, count(*), max(run_id) FROM %s GROUP BY ALL ORDER BY ALL`, partitionExpr(t, "t"), quotedName(t)+" t"), func(r *sql.Rows) error {
		var p ManifestPartition
		if err := r.Scan(&p.Account, &p.Year, &p.Month, &p.Rows, &p.RunID); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// writeManifest describes the table's committed state (its partitions),
// which its published files now match, and replaces the manifest
// atomically.
func (w *Warehouse) writeManifest(root string, t *schema.Table, parts []ManifestPartition) error {
	m := Manifest{Table: t.FullName(), Doc: t.Doc, PrimaryKey: t.Key, PartitionBy: t.PartitionBy, WrittenAt: time.Now().UTC(), Partitions: []ManifestPartition{}}
	if t.Parent != nil {
		m.Parent = t.Parent.FullName()
	}
	m.HivePath = "account=<account>/" + PartitionFile
	if t.PartitionBy != "" {
		m.HivePath = "account=<account>/year=<yyyy>/month=<m>/" + PartitionFile
	}
	for _, c := range t.Columns {
		m.Columns = append(m.Columns, ManifestColumn{Name: c.Name, Type: c.Type.DuckDBType(), Nullable: c.Nullable, InPath: c.Name == schema.ColAccount})
	}
	for _, p := range parts {
		dir := PartitionDir("", t, p.Account, p.Year, p.Month)
		rel := strings.TrimPrefix(filepath.ToSlash(dir), t.Source+"/"+t.Name+"/")
		p.Path = rel + "/" + PartitionFile
		m.Partitions = append(m.Partitions, p)
		m.Rows += p.Rows
		m.RunID = max(m.RunID, p.RunID)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(root, t.Source, t.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	removeStaleTemps(dir, ManifestFile)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", ManifestFile, os.Getpid()))
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	w.at(HookBeforeManifest)
	if err := os.Rename(tmp, filepath.Join(dir, ManifestFile)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncFile(dir)
}
