// Package transform turns raw API pages into typed Arrow records by the
// declarations in schema/. It is pure: bytes in, records out, no I/O.
//
// A record that does not fit its declaration (an unparseable date, a money
// value that is not a plain decimal, a missing key) is not dropped and does
// not fail the page: it comes back as a Reject with a reason naming the
// column and the value, and the rest of the page loads. Fields the
// declaration does not name are kept in the row's _extra JSON column.
package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/repairshop/export/schema"
)

// Meta is what every row of a page gets besides the API's fields.
type Meta struct {
	Account     string
	RunID       string
	ExtractedAt time.Time
	// Fixed holds the values of the table's FromRequest columns, by column
	// name (e.g. "type": "tickets" for /customFields/tickets).
	Fixed map[string]string
}

// Reject is a record that could not be loaded, with why.
type Reject struct {
	Table  string          // qualified table name
	Key    string          // the record's id, when it has one
	Raw    json.RawMessage // the record exactly as received
	Reason string          // names the column and the offending value
}

// Batch is one page transformed.
type Batch struct {
	Table   *schema.Table
	Record  arrow.RecordBatch // the rows that fit; zero rows is valid
	Rejects []Reject
	// Drift maps each undeclared field path seen to an example value
	// (secrets redacted).
	Drift map[string]string
	// Children holds one batch per child table of Table, in declaration
	// order (top-level batches only).
	Children []*Batch
	// Parents, in a child batch, are the ids of the parent records that
	// carried the array: their stored lines are replaced by these rows
	// (none left for an empty array). A parent whose record did not carry
	// the array at all (a list page without lines) keeps its stored lines.
	Parents []string
}

// Release frees the records' memory.
func (b *Batch) Release() {
	if b.Record != nil {
		b.Record.Release()
	}
	for _, c := range b.Children {
		c.Release()
	}
}

// ArrowType is the Arrow type of a declared column type.
func ArrowType(t schema.Type) arrow.DataType {
	switch t {
	case schema.String, schema.JSON:
		return arrow.BinaryTypes.String
	case schema.Int:
		return arrow.PrimitiveTypes.Int64
	case schema.Money:
		return &arrow.Decimal128Type{Precision: schema.MoneyPrecision, Scale: schema.MoneyScale}
	case schema.Decimal:
		return &arrow.Decimal128Type{Precision: schema.DecimalPrecision, Scale: schema.DecimalScale}
	case schema.Timestamp:
		// A zone-aware Arrow timestamp is what DuckDB and Parquet readers
		// take as an instant (TIMESTAMPTZ / isAdjustedToUTC).
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case schema.Date:
		return arrow.FixedWidthTypes.Date32
	case schema.Bool:
		return arrow.FixedWidthTypes.Boolean
	}
	panic(fmt.Sprintf("transform: no Arrow type for %v", t))
}

// ArrowSchema is the Arrow schema of a declared table, built once: a
// table is fixed once declared (schema.New) and an Arrow schema is
// immutable, so every page of a table shares one. (Built a page at a
// time, the schemas were 12.5 MB of a 200-account run's Go heap.)
func ArrowSchema(t *schema.Table) *arrow.Schema {
	if sc, ok := arrowSchemas.Load(t); ok {
		return sc.(*arrow.Schema)
	}
	fields := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		fields[i] = arrow.Field{Name: c.Name, Type: ArrowType(c.Type), Nullable: !t.IsKey(c.Name)}
	}
	sc, _ := arrowSchemas.LoadOrStore(t, arrow.NewSchema(fields, nil))
	return sc.(*arrow.Schema)
}

// arrowSchemas are the tables' Arrow schemas (*schema.Table → *arrow.Schema).
var arrowSchemas sync.Map

// Page transforms a JSON array of records (a list page, or a one-record
// array for a detail response) into a Batch. It fails only when the bytes
// are not a JSON array at all; record-level problems become Rejects.
func Page(t *schema.Table, records []byte, meta Meta, mem memory.Allocator) (*Batch, error) {
	type record struct {
		v    any
		raw  []byte
		over string // why it exceeds the record bounds
	}
	var recs []record
	d := newDecoder(records)
	if err := d.splitArray(func(v any, raw []byte, over string) { recs = append(recs, record{v, raw, over}) }); err != nil {
		return nil, fmt.Errorf("transform %s: page is not a JSON array: %w", t.FullName(), err)
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	if t.IsChild() {
		return nil, fmt.Errorf("transform %s: a child table is filled from its parent's pages", t.FullName())
	}
	b := &Batch{Table: t, Drift: map[string]string{}}
	rb := array.NewRecordBuilder(mem, ArrowSchema(t))
	defer rb.Release()
	row := make([]cell, len(t.Columns))
	declared := declaredPaths(t)
	used := map[string]bool{}
	kids := make([]*childBuilder, len(t.Children))
	for i, ct := range t.Children {
		kids[i] = &childBuilder{batch: &Batch{Table: ct, Drift: map[string]string{}}, rb: array.NewRecordBuilder(mem, ArrowSchema(ct)), declared: declaredPaths(ct), used: map[string]bool{}}
		defer kids[i].rb.Release()
	}
	for _, rec := range recs {
		obj, ok := rec.v.(map[string]any)
		if rec.over != "" {
			key := ""
			if ok {
				key, _ = parseString(obj["id"])
			}
			key = strings.Clone(key) // not the page's copy
			b.Rejects = append(b.Rejects, Reject{Table: t.FullName(), Key: key, Raw: bytes.Clone(rec.raw), Reason: rec.over})
			continue
		}
		if !ok {
			b.Rejects = append(b.Rejects, Reject{Table: t.FullName(), Raw: bytes.Clone(rec.raw), Reason: fmt.Sprintf("record is %s, not an object", describe(rec.v))})
			continue
		}
		err := fillRow(t, obj, meta, row, declared, used, b.Drift)
		for _, k := range kids {
			if err == nil {
				err = k.collect(t, obj, row, meta)
			}
		}
		if err != nil {
			key, _ := parseString(obj["id"])
			key = strings.Clone(key)
			b.Rejects = append(b.Rejects, Reject{Table: t.FullName(), Key: key, Raw: bytes.Clone(rec.raw), Reason: err.Error()})
			for _, k := range kids {
				k.pending, k.pendingParent = k.pending[:0], nil
			}
			continue
		}
		appendRow(rb, row)
		for _, k := range kids {
			k.flush()
		}
	}
	b.Record = rb.NewRecordBatch()
	for _, k := range kids {
		k.batch.Record = k.rb.NewRecordBatch()
		b.Children = append(b.Children, k.batch)
	}
	return b, nil
}

// childBuilder gathers one child table's rows for the record being
// transformed; they are appended only if the whole record is accepted, so a
// document is loaded with all its lines or rejected with all of them.
type childBuilder struct {
	batch         *Batch
	rb            *array.RecordBuilder
	declared      map[string]bool
	used          map[string]bool // fillRow's, kept for its buckets
	pending       [][]cell        // its rows are reused once flushed
	pendingParent *string
}

// collect reads the child array of the parent record obj, whose typed row is
// parentRow.
func (k *childBuilder) collect(parent *schema.Table, obj map[string]any, parentRow []cell, meta Meta) error {
	ct := k.batch.Table
	v, path, found := arrayValue(obj, ct.ArrayPaths)
	if !found {
		return nil // not carried: the stored lines stay
	}
	items, ok := v.([]any)
	if obj, isObj := v.(map[string]any); isObj && ct.Object {
		items, ok = []any{obj}, true
	}
	if !ok {
		return fmt.Errorf("%s: field %s is %s, want an array", ct.Name, path, describe(v))
	}
	for i, it := range items {
		elem, ok := it.(map[string]any)
		if !ok {
			return fmt.Errorf("%s line %d: %s[%d] is %s, not an object", ct.Name, i+1, path, i, describe(it))
		}
		var row []cell
		if n := len(k.pending); n < cap(k.pending) && k.pending[:n+1][n] != nil {
			row = k.pending[:n+1][n] // a flushed row's cells
		} else {
			row = make([]cell, len(ct.Columns))
		}
		if err := fillRow(ct, elem, meta, row, k.declared, k.used, k.batch.Drift); err != nil {
			return fmt.Errorf("%s line %d: %w", ct.Name, i+1, err)
		}
		for j, c := range ct.Columns {
			switch {
			case c.Name == schema.ColLineNo:
				row[j] = num(int64(i + 1))
			case c.Parent != "":
				row[j] = parentRow[parent.ColumnIndex(c.Parent)]
			}
		}
		k.pending = append(k.pending, row)
	}
	keyCol := parent.ColumnIndex(parent.Key[1])
	id := parentRow[keyCol].text(parent.Columns[keyCol].Type)
	k.pendingParent = &id
	return nil
}

func (k *childBuilder) flush() {
	for _, r := range k.pending {
		appendRow(k.rb, r)
	}
	if k.pendingParent != nil {
		k.batch.Parents = append(k.batch.Parents, *k.pendingParent)
	}
	k.pending, k.pendingParent = k.pending[:0], nil
}

// arrayValue finds a child array by its spellings. Absent, null and {} mean
// "not carried" (an empty object is how some APIs send nothing).
func arrayValue(obj map[string]any, paths []string) (any, string, bool) {
	for _, p := range paths {
		v, ok := lookup(obj, p)
		if !ok {
			continue
		}
		if m, isObj := v.(map[string]any); isObj && len(m) == 0 {
			continue
		}
		return v, p, true
	}
	return nil, "", false
}

// lookup follows a dotted path through nested objects. A missing key, a
// null, or an empty object on the way all mean "absent".
func lookup(obj map[string]any, path string) (any, bool) {
	var cur any = obj
	for path != "" {
		part := path
		if i := strings.IndexByte(path, '.'); i >= 0 {
			part, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// fillRow converts one record into typed cells in row (unset for NULL), or
// says which column failed and why.
func fillRow(t *schema.Table, obj map[string]any, meta Meta, row []cell, declared, used map[string]bool, drift map[string]string) error {
	clear(used)
	for i, c := range t.Columns {
		row[i] = cell{}
		if c.Fixed && !recordHas(obj, c.Paths) {
			v, ok := meta.Fixed[c.Name]
			if !ok || v == "" {
				return fmt.Errorf("column %s: no value from the request (a page of %s must name its %s)", c.Name, t.FullName(), c.Name)
			}
			row[i] = text(v)
			continue
		}
		if c.System {
			continue
		}
		var v any
		found := false
		for _, p := range c.Paths {
			if v, found = lookup(obj, p); found {
				if _, isObj := v.(map[string]any); isObj && c.Type != schema.JSON {
					// An object where a value is declared: {} for "none",
					// or a shape we do not know. NULL here, and the object
					// stays in _extra; another spelling may still match.
					found = false
					continue
				}
				used[p] = true
				break
			}
		}
		if !found {
			if c.Required {
				return fmt.Errorf("column %s: required field %s is missing", c.Name, c.Paths[0])
			}
			continue
		}
		val, err := convert(c, v)
		if errors.Is(err, errNull) {
			if c.Required {
				return fmt.Errorf("column %s: required field %s is empty", c.Name, c.Paths[0])
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		row[i] = val
	}
	for _, ct := range t.Children {
		if _, p, ok := arrayValue(obj, ct.ArrayPaths); ok {
			used[p] = true // its content goes to the child table
		}
	}
	row[t.ColumnIndex(schema.ColAccount)] = text(meta.Account)
	row[t.ColumnIndex(schema.ColExtractedAt)] = num(meta.ExtractedAt.UnixMicro())
	row[t.ColumnIndex(schema.ColRunID)] = text(meta.RunID)
	var path [128]byte
	if extra := remainder(obj, path[:0], declared, used, drift); len(extra) > 0 {
		js, err := appendJSON(nil, extra)
		if err != nil {
			return fmt.Errorf("column %s: %w", schema.ColExtra, err)
		}
		row[t.ColumnIndex(schema.ColExtra)] = text(string(js))
	}
	return nil
}

// recordHas reports whether obj has a non-null, non-empty value at one of paths.
func recordHas(obj map[string]any, paths []string) bool {
	for _, p := range paths {
		if v, ok := lookup(obj, p); ok && v != nil && v != "" {
			return true
		}
	}
	return false
}

func convert(c schema.Column, v any) (cell, error) {
	if c.Round && (c.Type == schema.Money || c.Type == schema.Decimal) {
		n, err := roundDecimal(v, schema.MoneyPrecision, c.Type.Scale())
		return num(n), err
	}
	switch t := c.Type; t {
	case schema.String:
		s, err := parseString(v)
		return text(s), err
	case schema.Int:
		n, err := parseInt(v)
		return num(n), err
	case schema.Money:
		n, err := parseMoney(v)
		return num(n), err
	case schema.Decimal:
		n, err := parseDecimal(v, schema.DecimalPrecision, schema.DecimalScale)
		return num(n), err
	case schema.Timestamp:
		ts, err := parseTimestamp(v)
		return num(ts.UnixMicro()), err
	case schema.Date:
		d, err := parseDate(v)
		return num(int64(arrow.Date32FromTime(d))), err
	case schema.Bool:
		b, err := parseBool(v)
		return cell{set: true, b: b}, err
	case schema.JSON:
		b, err := json.Marshal(v)
		return text(string(b)), err
	}
	return cell{}, fmt.Errorf("no conversion for %v", c.Type)
}

// declaredPaths is every JSON path a table reads and every object on the
// way to one ("status" for "status.label").
func declaredPaths(t *schema.Table) map[string]bool {
	paths := map[string]bool{}
	all := [][]string{}
	for _, c := range t.Columns {
		all = append(all, c.Paths)
	}
	for _, ct := range t.Children {
		all = append(all, ct.ArrayPaths)
	}
	for _, ps := range all {
		for _, p := range ps {
			paths[p] = true
			for i := strings.LastIndexByte(p, '.'); i > 0; i = strings.LastIndexByte(p[:i], '.') {
				paths[p[:i]] = true
			}
		}
	}
	return paths
}

// remainder is the part of obj no column consumed: undeclared fields, and
// alternative spellings that were present but not used. Nulls and empty
// objects at declared paths carry no information and are not kept.
// prefix is the path of obj ("" or "status."), in a buffer the paths
// below it are built in: a string per field would cost an allocation.
func remainder(obj map[string]any, prefix []byte, declared, used map[string]bool, drift map[string]string) map[string]any {
	var out map[string]any
	for k, v := range obj {
		p := append(prefix, k...)
		if used[string(p)] {
			continue
		}
		switch m, isObj := v.(map[string]any); {
		case declared[string(p)] && isObj:
			sub := remainder(m, append(p, '.'), declared, used, drift)
			if len(sub) == 0 {
				continue
			}
			v = sub
		case declared[string(p)] && v == nil:
			continue
		default:
			// Undeclared, or a declared spelling not used because another
			// won (it may differ), or a scalar where an object was declared.
			notedrift(drift, p, v)
		}
		if out == nil {
			out = map[string]any{}
		}
		out[k] = v
	}
	return out
}

var secretName = regexp.MustCompile(`(?i)key|token|secret|passw|pass_?code|auth|pin\b`)

// notedrift records an example for an undeclared field, once per batch.
func notedrift(drift map[string]string, p []byte, v any) {
	if _, ok := drift[string(p)]; ok {
		return
	}
	path := string(p)
	if secretName.MatchString(path) {
		drift[path] = "[redacted]"
		return
	}
	b, _ := json.Marshal(redact(v))
	s := string(b)
	if len(s) > 120 {
		s = strings.ToValidUTF8(s[:120], "") + "…"
	}
	drift[path] = s
}

// redact replaces the values of secret-looking keys inside an example
// (custom_fields {"device_pin": …}).
func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if secretName.MatchString(k) {
				out[k] = "[redacted]"
			} else {
				out[k] = redact(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redact(e)
		}
		return out
	}
	return v
}

// DriftPaths returns the drift paths in a stable order.
func (b *Batch) DriftPaths() []string {
	ps := make([]string, 0, len(b.Drift))
	for p := range b.Drift {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// cell is one typed value of a row, unboxed: a page's rows held as []any
// cost an allocation per number and instant.
type cell struct {
	set bool   // false: NULL
	s   string // String, JSON
	// n is an Int; a Money or Decimal in units of its scale; a Timestamp
	// in microseconds since the epoch; a Date in days since it.
	n int64
	b bool // Bool
}

func text(s string) cell { return cell{set: true, s: s} }
func num(n int64) cell   { return cell{set: true, n: n} }

// text gives a key column's value as text (a parent id for Batch.Parents),
// not sharing the page's memory.
func (c cell) text(t schema.Type) string {
	if t == schema.Int {
		return strconv.FormatInt(c.n, 10)
	}
	return strings.Clone(c.s)
}

func appendRow(rb *array.RecordBuilder, row []cell) {
	for i, v := range row {
		fb := rb.Field(i)
		if !v.set {
			fb.AppendNull()
			continue
		}
		switch b := fb.(type) {
		case *array.StringBuilder:
			b.Append(v.s)
		case *array.Int64Builder:
			b.Append(v.n)
		case *array.Decimal128Builder:
			b.Append(decimal128.FromI64(v.n))
		case *array.TimestampBuilder:
			b.Append(arrow.Timestamp(v.n))
		case *array.Date32Builder:
			b.Append(arrow.Date32(v.n))
		case *array.BooleanBuilder:
			b.Append(v.b)
		default:
			panic(fmt.Sprintf("transform: no builder for %T", fb))
		}
	}
}
