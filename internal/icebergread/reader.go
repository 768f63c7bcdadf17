// Package icebergread is an Iceberg reader of its own, for the tests
// that prove the lake: it shares no code with iceberg-go nor with package
// lake. It finds a table's metadata file in the SQL catalog's table (the
// JDBC layout), then walks metadata.json → the current snapshot's
// manifest list → its manifests (Avro) → the live data files, which the
// tests read with DuckDB.
package icebergread

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Reader reads a lake's files: file:// paths from the disk, s3:// ones
// through S3 (the test's own access to its S3 server's storage).
type Reader struct {
	S3 func(bucket, key string) ([]byte, error)
}

// Read fetches a file of the lake.
func (r Reader) Read(loc string) ([]byte, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file", "":
		return os.ReadFile(u.Path)
	case "s3", "s3a":
		if r.S3 == nil {
			return nil, fmt.Errorf("%s: no S3 access given", loc)
		}
		return r.S3(u.Host, strings.TrimPrefix(u.Path, "/"))
	}
	return nil, fmt.Errorf("%s: scheme %q is not read here", loc, u.Scheme)
}

// MetadataLocation is a table's current metadata file, as the catalog's
// iceberg_tables row has it ("" when the table is not there).
func MetadataLocation(ctx context.Context, db *sql.DB, catalog, namespace, name string) (string, error) {
	var loc string
	err := db.QueryRowContext(ctx, `SELECT metadata_location FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3`,
		catalog, namespace, name).Scan(&loc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return loc, err
}

// DataFile is a live data file of a snapshot.
type DataFile struct {
	Path      string
	Records   int64
	Partition map[string]any
}

// Snapshot is what a metadata file says of one of its snapshots.
type Snapshot struct {
	ID      int64
	Summary map[string]string
	Files   []DataFile
	// Columns are the snapshot's schema's top-level column names.
	Columns []string
}

// Current reads a metadata file's current snapshot and its live data
// files (none before the first snapshot).
func (r Reader) Current(metadataLocation string) (Snapshot, error) {
	return r.At(metadataLocation, 0)
}

// At reads snapshot id of a metadata file (0: the current one).
func (r Reader) At(metadataLocation string, id int64) (Snapshot, error) {
	raw, err := r.Read(metadataLocation)
	if err != nil {
		return Snapshot{}, err
	}
	var meta struct {
		FormatVersion int    `json:"format-version"`
		Current       *int64 `json:"current-snapshot-id"`
		Snapshots     []struct {
			ID           int64             `json:"snapshot-id"`
			ManifestList string            `json:"manifest-list"`
			Summary      map[string]string `json:"summary"`
			SchemaID     int               `json:"schema-id"`
		} `json:"snapshots"`
		Schemas []struct {
			ID     int `json:"schema-id"`
			Fields []struct {
				Name string `json:"name"`
			} `json:"fields"`
		} `json:"schemas"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w", metadataLocation, err)
	}
	if meta.FormatVersion != 2 {
		return Snapshot{}, fmt.Errorf("%s: format-version %d, want 2", metadataLocation, meta.FormatVersion)
	}
	if id == 0 {
		if meta.Current == nil || *meta.Current == -1 {
			return Snapshot{}, nil
		}
		id = *meta.Current
	}
	for _, s := range meta.Snapshots {
		if s.ID != id {
			continue
		}
		files, err := r.liveFiles(s.ManifestList)
		snap := Snapshot{ID: s.ID, Summary: s.Summary, Files: files}
		for _, sc := range meta.Schemas {
			if sc.ID == s.SchemaID {
				for _, f := range sc.Fields {
					snap.Columns = append(snap.Columns, f.Name)
				}
			}
		}
		return snap, err
	}
	return Snapshot{}, fmt.Errorf("%s: snapshot %d is not among its snapshots", metadataLocation, id)
}

// liveFiles walks a manifest list's data manifests for the entries that
// are not deleted.
func (r Reader) liveFiles(manifestList string) ([]DataFile, error) {
	manifests, err := r.avro("manifest list", manifestList)
	if err != nil {
		return nil, err
	}
	var out []DataFile
	for _, m := range manifests {
		if c, _ := m["content"].(int64); c != 0 {
			return nil, fmt.Errorf("manifest list %s: a delete manifest (the lake must be copy-on-write)", manifestList)
		}
		path, _ := m["manifest_path"].(string)
		entries, err := r.avro("manifest", path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if st, _ := e["status"].(int64); st == 2 { // DELETED
				continue
			}
			df, _ := e["data_file"].(map[string]any)
			if c, _ := df["content"].(int64); c != 0 {
				return nil, fmt.Errorf("manifest %s: a delete file", path)
			}
			f := DataFile{Path: fmt.Sprint(df["file_path"]), Partition: map[string]any{}}
			f.Records, _ = df["record_count"].(int64)
			if p, ok := df["partition"].(map[string]any); ok {
				f.Partition = p
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// Referenced lists every file a metadata file reaches: itself and the
// earlier metadata files it logs, and for each snapshot it keeps, the
// manifest list, its manifests and their live data files. A file of the
// table's folder that is not among them is an orphan.
func (r Reader) Referenced(metadataLocation string) ([]string, error) {
	raw, err := r.Read(metadataLocation)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Log []struct {
			File string `json:"metadata-file"`
		} `json:"metadata-log"`
		Snapshots []struct {
			ManifestList string `json:"manifest-list"`
		} `json:"snapshots"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", metadataLocation, err)
	}
	out := []string{metadataLocation}
	for _, l := range meta.Log {
		out = append(out, l.File)
	}
	for _, s := range meta.Snapshots {
		out = append(out, s.ManifestList)
		manifests, err := r.avro("manifest list", s.ManifestList)
		if err != nil {
			return nil, err
		}
		for _, m := range manifests {
			path, _ := m["manifest_path"].(string)
			out = append(out, path)
			entries, err := r.avro("manifest", path)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if st, _ := e["status"].(int64); st != 2 {
					df, _ := e["data_file"].(map[string]any)
					out = append(out, fmt.Sprint(df["file_path"]))
				}
			}
		}
	}
	return out, nil
}

// avro reads and decodes one of the lake's Avro files (what says which
// kind in its errors).
func (r Reader) avro(what, path string) ([]map[string]any, error) {
	raw, err := r.Read(path)
	if err != nil {
		return nil, err
	}
	recs, err := readAvro(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return recs, nil
}
