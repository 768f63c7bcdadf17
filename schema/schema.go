// Package schema declares every warehouse table once: its columns, their
// types, the JSON path each column is read from, the primary key and the
// business date that partitions its Parquet files. Transform, the DuckDB DDL,
// the Parquet export and `export schema` all read these declarations, so that
// adding a column is a one-line change and no layer can disagree with another.
//
// The package imports nothing of ours and does no I/O.
package schema

import (
	"fmt"
	"strings"
)

// Type is the logical type of a column. Each maps to exactly one DuckDB type
// and one Arrow type; see DuckDBType and the transform package.
type Type int

const (
	// String is text; ids are strings too, whatever the JSON spelled them as.
	String Type = iota
	// Int is a count or quantity (BIGINT).
	Int
	// Money is DECIMAL(18,2), parsed from the JSON literal, never through float64.
	Money
	// Timestamp is an instant, stored as TIMESTAMPTZ normalised to UTC.
	Timestamp
	// Date is a calendar day (DATE).
	Date
	// Bool is a flag (BOOLEAN).
	Bool
	// JSON is a JSON document kept as text (DuckDB type JSON).
	JSON
)

// MoneyPrecision and MoneyScale fix the shape of every money column.
const (
	MoneyPrecision = 18
	MoneyScale     = 2
)

func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "int"
	case Money:
		return "money"
	case Timestamp:
		return "timestamp"
	case Date:
		return "date"
	case Bool:
		return "bool"
	case JSON:
		return "json"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// DuckDBType is the column type used in the warehouse DDL.
func (t Type) DuckDBType() string {
	switch t {
	case String:
		return "VARCHAR"
	case Int:
		return "BIGINT"
	case Money:
		return fmt.Sprintf("DECIMAL(%d,%d)", MoneyPrecision, MoneyScale)
	case Timestamp:
		return "TIMESTAMPTZ"
	case Date:
		return "DATE"
	case Bool:
		return "BOOLEAN"
	case JSON:
		return "JSON"
	}
	panic(fmt.Sprintf("schema: no DuckDB type for %v", t))
}

// Column is one declared column.
type Column struct {
	Name string
	Type Type
	// Paths are the dotted JSON paths the value is read from, first match
	// wins. The first is the documented spelling; the others are spellings
	// seen in the field. Empty for system columns.
	Paths []string
	// Required columns must be present and valid, or the record is rejected.
	Required bool
	// System columns are added by the exporter, not read from the API.
	System bool
	Doc    string
}

// Table is one declared table.
type Table struct {
	Source string // "mgr" or "repairops": the DuckDB schema and Parquet folder
	Name   string // snake_case table name
	// Resource is the API resource the rows come from (e.g. "tickets").
	Resource string
	Doc      string
	// Columns in warehouse order, system columns included (see New).
	Columns []Column
	// Key is the primary key, account first.
	Key []string
	// PartitionBy names the business-date column that partitions the Parquet
	// files by year and month; empty for reference tables.
	PartitionBy string
}

// Names of the system columns every table carries.
const (
	ColAccount     = "account"
	ColExtractedAt = "extracted_at"
	ColRunID       = "run_id"
	ColExtra       = "_extra"
)

// Col declares a column read from path, named after the path with nested
// objects flattened by "_" (status.label → status_label). Alternative
// spellings may follow the documented path.
func Col(t Type, path string, alt ...string) Column {
	return Column{Name: strings.ReplaceAll(path, ".", "_"), Type: t, Paths: append([]string{path}, alt...)}
}

// Req marks a column required: a record without a valid value is rejected.
func Req(c Column) Column {
	c.Required = true
	return c
}

// New builds a table from its business columns: it prepends account, appends
// the bookkeeping columns, prefixes the key with account and checks the
// declaration. It panics on a malformed declaration, which is a programming
// error caught by the package tests.
func New(t Table) *Table {
	cols := []Column{{Name: ColAccount, Type: String, Required: true, System: true, Doc: "configured account (shop) the row was exported from"}}
	cols = append(cols, t.Columns...)
	cols = append(cols,
		Column{Name: ColExtractedAt, Type: Timestamp, System: true, Doc: "when the exporter fetched the row"},
		Column{Name: ColRunID, Type: String, System: true, Doc: "export run that last changed the row (meta.runs)"},
		Column{Name: ColExtra, Type: JSON, System: true, Doc: "fields the API sent that this table does not declare"},
	)
	t.Columns = cols
	t.Key = append([]string{ColAccount}, t.Key...)
	if err := t.validate(); err != nil {
		panic(err)
	}
	// Key columns are required: a row without its key cannot be upserted.
	for _, k := range t.Key {
		i := t.ColumnIndex(k)
		t.Columns[i].Required = true
	}
	return &t
}

func (t *Table) validate() error {
	if t.Source == "" || t.Name == "" {
		return fmt.Errorf("schema: table %q.%q: source and name are required", t.Source, t.Name)
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		if seen[c.Name] {
			return fmt.Errorf("schema: %s: duplicate column %q", t.FullName(), c.Name)
		}
		seen[c.Name] = true
		if !c.System && len(c.Paths) == 0 {
			return fmt.Errorf("schema: %s.%s: no JSON path", t.FullName(), c.Name)
		}
	}
	for _, k := range t.Key {
		if !seen[k] {
			return fmt.Errorf("schema: %s: key column %q not declared", t.FullName(), k)
		}
	}
	if t.PartitionBy != "" {
		i := t.ColumnIndex(t.PartitionBy)
		if i < 0 {
			return fmt.Errorf("schema: %s: partition column %q not declared", t.FullName(), t.PartitionBy)
		}
		if ty := t.Columns[i].Type; ty != Timestamp && ty != Date {
			return fmt.Errorf("schema: %s: partition column %q is %v, want a timestamp or date", t.FullName(), t.PartitionBy, ty)
		}
	}
	return nil
}

// FullName is the qualified DuckDB name, e.g. "mgr.tickets".
func (t *Table) FullName() string { return t.Source + "." + t.Name }

// ColumnIndex returns the position of the named column, or -1.
func (t *Table) ColumnIndex(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// IsKey reports whether the named column is part of the primary key.
func (t *Table) IsKey(name string) bool {
	for _, k := range t.Key {
		if k == name {
			return true
		}
	}
	return false
}
