// Package schema declares every warehouse table once: its columns, their
// types, the JSON path each column is read from, the primary key and the
// business date that partitions its Parquet files. Transform, the DuckDB DDL,
// the Parquet export and `repairshop-export schema` all read these declarations, so that
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
	// Decimal is DECIMAL(18,4): quantities that may be fractional (hours,
	// metres of cable) and rates (8.875 % sales tax). Parsed exactly, like
	// Money.
	Decimal
)

// MoneyPrecision and MoneyScale fix the shape of every money column.
const (
	MoneyPrecision = 18
	MoneyScale     = 2
)

// DecimalPrecision and DecimalScale fix the shape of every Decimal column.
const (
	DecimalPrecision = 18
	DecimalScale     = 4
)

// Scale is the number of decimal places of a Money or Decimal column (0
// for other types).
func (t Type) Scale() int {
	switch t {
	case Money:
		return MoneyScale
	case Decimal:
		return DecimalScale
	}
	return 0
}

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
	case Decimal:
		return "decimal"
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
	case Decimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", DecimalPrecision, DecimalScale)
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
	// Fixed columns take their value from the request the page answered.
	// System ones always (FromRequest); ones with Paths when the record
	// lacks the field (OrRequest). A System Fixed column's value comes from the request,
	// not the record (mgr.custom_fields.type is the {type} of
	// /customFields/{type}); see FromRequest.
	Fixed bool
	// Parent names the parent-table column a child-table column copies (the
	// parent's id, its partition date); empty elsewhere.
	Parent string
	// Nullable is false for key and required columns: a stored row never
	// has NULL there (keys are also NOT NULL in DuckDB).
	Nullable bool
	// Round makes a value with more decimal places than the column's scale
	// round (half away from zero) instead of being rejected: for statistics
	// the API computes (rates, averages), never for amounts (see Rounded).
	Round bool
	Doc   string
}

// Table is one declared table.
type Table struct {
	Source string // the source's name (e.g. mgr): the DuckDB schema and Parquet folder
	Name   string // snake_case table name
	// Resource is the API resource the rows come from (e.g. "tickets").
	Resource string
	Doc      string
	// Columns in warehouse order, system columns included (see New).
	Columns []Column
	// Key is the primary key, account first.
	Key []string
	// PartitionBy names the business-date column that partitions the Parquet
	// files by year and month; empty for reference tables. A child table
	// inherits its parent's, copied into a column of the same name.
	PartitionBy string

	// Children are the tables of the nested arrays of this table's records
	// (an invoice's line_items[] → <table>_lines), declared with Nested.
	Children []*Table

	// Set on a child table only.
	Parent *Table
	// ArrayPaths are the JSON paths of the array in the parent record, the
	// documented spelling first; the first present wins.
	ArrayPaths []string
	// ParentKey is the column holding the parent's id.
	ParentKey string
	// Object is set on a child table whose path holds one object (a
	// ticket's labor) rather than an array: the object is one line. An
	// array there is read as lines all the same.
	Object bool

	// History, on a top-level table whose rows change over time, keeps
	// every version of its rows in <name>_history (see HistoryTable).
	History bool
	// HistoryTable is the table of versions New declares when History is
	// set: the table's columns, then valid_from, valid_to and deleted; its
	// key is the table's and valid_from. The loader writes it, never
	// transform. Versions is set on it, pointing back.
	HistoryTable *Table
	Versions     *Table
}

// Names of the system columns every table carries.
const (
	ColAccount     = "account"
	ColExtractedAt = "extracted_at"
	ColRunID       = "run_id"
	ColExtra       = "_extra"
	// ColLineNo is a child row's 1-based position in its parent's array,
	// the last part of a child table's key.
	ColLineNo = "line_no"
	// ColDeletedAt, on a top-level table, is when a complete listing of the
	// resource no longer returned the row, or its detail answered 404
	// (NULL while the source has it). The row stays.
	ColDeletedAt = "deleted_at"
	// The columns of a history table (see Table.History).
	ColValidFrom = "valid_from"
	ColValidTo   = "valid_to"
	ColDeleted   = "deleted"
)

// Col declares a column read from path, named after the path with nested
// objects flattened by "_" (status.label → status_label). Alternative
// spellings may follow the documented path.
func Col(t Type, path string, alt ...string) Column {
	return Column{Name: strings.ReplaceAll(path, ".", "_"), Type: t, Paths: append([]string{path}, alt...)}
}

// FromRequest declares a column filled from the request the page answered
// rather than from the records (transform.Meta.Fixed), e.g. the {type} of
// /customFields/{type}. It is required: it is usually part of the key.
func FromRequest(t Type, name, doc string) Column {
	return Column{Name: name, Type: t, System: true, Fixed: true, Required: true, Doc: doc}
}

// OrRequest makes a column read from the record fall back to the value of
// the request the page answered (transform.Meta.Fixed) when the record
// lacks it, e.g. the shop_id a KPI request filtered by. It is required.
func OrRequest(c Column, doc string) Column {
	c.Fixed, c.Required, c.Doc = true, true, doc
	return c
}

// Rounded marks a Money or Decimal column whose values are statistics
// computed by the API (a pass rate of 0.9523809): more decimal places than
// the column's scale are rounded, not rejected.
func Rounded(c Column) Column {
	c.Round = true
	return c
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
	if t.Parent != nil || t.ParentKey != "" {
		panic(fmt.Sprintf("schema: %s.%s: a child table is declared with Nested inside its parent", t.Source, t.Name))
	}
	tb := build(t, nil)
	children := tb.Children
	tb.Children = nil
	for _, c := range children {
		c.Source, c.Resource = tb.Source, tb.Resource
		tb.Children = append(tb.Children, build(*c, tb))
	}
	if tb.History {
		tb.HistoryTable = history(tb)
	}
	return tb
}

// history declares the table of versions of t.
func history(t *Table) *Table {
	h := &Table{
		Source: t.Source, Name: t.Name + "_history", Versions: t,
		Doc:         "Every version of " + t.FullName() + " the export has seen: one row per run that saw the row change (or go), valid from the start of that run until the next version's.",
		Key:         append(append([]string{}, t.Key...), ColValidFrom),
		PartitionBy: t.PartitionBy,
	}
	h.Columns = append(append([]Column{}, t.Columns...),
		Column{Name: ColValidFrom, Type: Timestamp, System: true, Required: true, Doc: "start of the run that first saw this version"},
		Column{Name: ColValidTo, Type: Timestamp, System: true, Doc: "start of the run that saw the next version (NULL: the current version)"},
		Column{Name: ColDeleted, Type: Bool, System: true, Required: true, Doc: "the version is the row's deletion: the source no longer has it"},
	)
	for i, c := range h.Columns {
		h.Columns[i].Nullable = !c.Required && !h.IsKey(c.Name)
	}
	if err := h.validate(); err != nil {
		panic(err)
	}
	return h
}

// Nested declares a child table for the array at arrayPath (alternative
// spellings after it) of its parent's records, for Table.Children. New
// completes it: its key is (account, parentKey, line_no), parentKey copies
// the parent's id and the parent's partition date is copied too, so a
// child's Parquet files are partitioned like its parent's.
func Nested(name, parentKey string, arrayPaths []string, doc string, cols ...Column) *Table {
	return &Table{Name: name, ParentKey: parentKey, ArrayPaths: arrayPaths, Doc: doc, Columns: cols}
}

// NestedObject is Nested for a path that holds one object per parent (a
// ticket's labor, its diagnostics): the object is the child's one line.
func NestedObject(name, parentKey string, paths []string, doc string, cols ...Column) *Table {
	t := Nested(name, parentKey, paths, doc, cols...)
	t.Object = true
	return t
}

func build(t Table, parent *Table) *Table {
	cols := []Column{{Name: ColAccount, Type: String, Required: true, System: true, Doc: "configured account (shop) the row was exported from"}}
	if parent != nil {
		if len(parent.Key) != 2 {
			panic(fmt.Sprintf("schema: %s: a parent of child table %s needs a one-column id", parent.FullName(), t.Name))
		}
		if len(t.ArrayPaths) == 0 || t.ParentKey == "" {
			panic(fmt.Sprintf("schema: child table %s.%s: array path and parent key are required", t.Source, t.Name))
		}
		if len(t.Children) > 0 {
			panic(fmt.Sprintf("schema: child table %s.%s: only one level of nesting is supported", t.Source, t.Name))
		}
		t.Parent = parent
		pid := parent.Columns[parent.ColumnIndex(parent.Key[1])]
		cols = append(cols,
			Column{Name: t.ParentKey, Type: pid.Type, System: true, Parent: pid.Name, Doc: "id of the " + parent.FullName() + " row this line belongs to"},
			Column{Name: ColLineNo, Type: Int, System: true, Doc: lineNoDoc(t)},
		)
		if parent.PartitionBy != "" {
			pc := parent.Columns[parent.ColumnIndex(parent.PartitionBy)]
			cols = append(cols, Column{Name: pc.Name, Type: pc.Type, System: true, Required: pc.Required, Parent: pc.Name, Doc: "the parent's " + pc.Name + " (partitions the Parquet files)"})
			t.PartitionBy = pc.Name
		}
		t.Key = []string{t.ParentKey, ColLineNo}
	}
	cols = append(cols, t.Columns...)
	cols = append(cols,
		Column{Name: ColExtractedAt, Type: Timestamp, Required: true, System: true, Doc: "when the exporter fetched the row"},
		Column{Name: ColRunID, Type: String, Required: true, System: true, Doc: "the run that last changed the row (meta.runs)"},
		Column{Name: ColExtra, Type: JSON, System: true, Doc: "fields the API sent that this table does not declare"},
	)
	if parent == nil {
		cols = append(cols, Column{Name: ColDeletedAt, Type: Timestamp, System: true, Doc: "when the source stopped returning the row (a complete listing without it, or a 404 of its detail); NULL while it has it"})
	}
	t.Columns = cols
	t.Key = append([]string{ColAccount}, t.Key...)
	if err := t.validate(); err != nil {
		panic(err)
	}
	// Key columns are required: a row without its key cannot be upserted.
	for i, c := range t.Columns {
		if t.IsKey(c.Name) {
			t.Columns[i].Required = true
		}
		t.Columns[i].Nullable = !t.Columns[i].Required
	}
	return &t
}

func lineNoDoc(t Table) string {
	if t.Object {
		return "1 for the parent's " + t.ArrayPaths[0] + " object; the 1-based position when the API sends an array"
	}
	return "1-based position in the parent's " + t.ArrayPaths[0] + " array"
}

// IsChild reports whether t is the table of a parent's nested array.
func (t *Table) IsChild() bool { return t.Parent != nil }

// Flatten lists tables followed each by its children.
func Flatten(tables ...*Table) []*Table {
	var out []*Table
	for _, t := range tables {
		out = append(out, t)
		out = append(out, t.Children...)
	}
	return out
}

// WithHistory lists tables each followed by its history table, if any.
func WithHistory(tables ...*Table) []*Table {
	var out []*Table
	for _, t := range tables {
		out = append(out, t)
		if t.HistoryTable != nil {
			out = append(out, t.HistoryTable)
		}
	}
	return out
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
