package lake

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"

	"github.com/repairshop/export/schema"
)

// Target is one warehouse relation the lake publishes: its namespace
// (the warehouse schema) and name, and the column its rows are
// partitioned by month on ("" for none).
type Target struct {
	Namespace, Name string
	TimeColumn      string
	// Queue is its name in the warehouse's lake queue.
	Queue string
}

// FullName is "namespace.name", as DuckDB and Trino's lake catalog name it.
func (t Target) FullName() string { return t.Namespace + "." + t.Name }

// Targets are the relations a warehouse publishes: every declared table
// (children and history tables too), then the conformed model's views,
// which are partitioned by account alone, as in the Parquet tree.
func Targets(tables []*schema.Table, views []string) []Target {
	var out []Target
	seen := map[string]bool{}
	add := func(t *schema.Table) {
		if !seen[t.FullName()] {
			seen[t.FullName()] = true
			out = append(out, Target{Namespace: t.Source, Name: t.Name, TimeColumn: t.PartitionBy, Queue: t.FullName()})
		}
	}
	for _, t := range schema.Flatten(tables...) {
		add(t)
		if t.HistoryTable != nil {
			add(t.HistoryTable)
		}
	}
	for _, v := range views {
		out = append(out, Target{Namespace: "main", Name: v, Queue: "main"})
	}
	return out
}

// Field IDs of the partition fields: Iceberg's convention starts them at
// 1000.
const (
	accountPartitionID = 1000
	monthPartitionID   = 1001
)

var decimalType = regexp.MustCompile(`^DECIMAL\((\d+),\s*(\d+)\)$`)

// icebergType is the Iceberg type DuckDB's Parquet writer produces for a
// column of the given DuckDB type.
func icebergType(duck string) (iceberg.Type, error) {
	d := strings.ToUpper(strings.TrimSpace(duck))
	if m := decimalType.FindStringSubmatch(d); m != nil {
		p, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		return iceberg.DecimalTypeOf(p, s), nil
	}
	switch d {
	case "VARCHAR", "JSON":
		return iceberg.PrimitiveTypes.String, nil
	case "BIGINT":
		return iceberg.PrimitiveTypes.Int64, nil
	case "INTEGER", "SMALLINT", "TINYINT":
		return iceberg.PrimitiveTypes.Int32, nil
	case "DOUBLE":
		return iceberg.PrimitiveTypes.Float64, nil
	case "FLOAT", "REAL":
		return iceberg.PrimitiveTypes.Float32, nil
	case "BOOLEAN":
		return iceberg.PrimitiveTypes.Bool, nil
	case "DATE":
		return iceberg.PrimitiveTypes.Date, nil
	case "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
		return iceberg.PrimitiveTypes.TimestampTz, nil
	case "TIMESTAMP":
		return iceberg.PrimitiveTypes.Timestamp, nil
	case "BLOB":
		return iceberg.PrimitiveTypes.Binary, nil
	}
	return nil, fmt.Errorf("column type %s has no Iceberg type here", duck)
}

// column is a warehouse column with its Iceberg type.
type column struct {
	name string
	typ  iceberg.Type
}

// columns maps a relation's DuckDB columns (DESCRIBE's name and type).
func columns(desc [][2]string) ([]column, error) {
	out := make([]column, len(desc))
	for i, d := range desc {
		t, err := icebergType(d[1])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", d[0], err)
		}
		out[i] = column{d[0], t}
	}
	return out, nil
}

// newSchema is a new table's schema: every column optional, as DuckDB
// writes them.
func newSchema(cols []column) *iceberg.Schema {
	fields := make([]iceberg.NestedField, len(cols))
	for i, c := range cols {
		fields[i] = iceberg.NestedField{ID: i + 1, Name: c.name, Type: c.typ}
	}
	return iceberg.NewSchema(0, fields...)
}

// partitionSpec is identity(account), then month(time column) if any.
func partitionSpec(sc *iceberg.Schema, timeColumn string) (iceberg.PartitionSpec, error) {
	acct, ok := sc.FindFieldByName(schema.ColAccount)
	if !ok {
		return iceberg.PartitionSpec{}, fmt.Errorf("no %s column to partition by", schema.ColAccount)
	}
	fields := []iceberg.PartitionField{{SourceIDs: []int{acct.ID}, FieldID: accountPartitionID, Name: schema.ColAccount, Transform: iceberg.IdentityTransform{}}}
	if timeColumn != "" {
		tc, ok := sc.FindFieldByName(timeColumn)
		if !ok {
			return iceberg.PartitionSpec{}, fmt.Errorf("no %s column to partition by", timeColumn)
		}
		fields = append(fields, iceberg.PartitionField{SourceIDs: []int{tc.ID}, FieldID: monthPartitionID, Name: timeColumn + "_month", Transform: iceberg.MonthTransform{}})
	}
	return iceberg.NewPartitionSpec(fields...), nil
}

// layoutError says how an existing lake table differs from the layout
// this warehouse publishes (nil: it matches, perhaps lacking columns the
// publish adds).
func layoutError(sc *iceberg.Schema, spec iceberg.PartitionSpec, cols []column, timeColumn string) error {
	for _, c := range cols {
		f, ok := sc.FindFieldByName(c.name)
		if !ok {
			continue // added by schema evolution
		}
		if !f.Type.Equals(c.typ) {
			return fmt.Errorf("column %s is %s in the lake, %s in the warehouse", c.name, f.Type, c.typ)
		}
		if f.Required {
			return fmt.Errorf("column %s is required in the lake; the warehouse's files have it optional", c.name)
		}
	}
	want := "identity(" + schema.ColAccount + ")"
	if timeColumn != "" {
		want += ", month(" + timeColumn + ")"
	}
	if got := describeSpec(sc, spec); got != want {
		return fmt.Errorf("it is partitioned by %s, not by %s", got, want)
	}
	return nil
}

// describeSpec is a partition spec as transform(source column), …
func describeSpec(sc *iceberg.Schema, spec iceberg.PartitionSpec) string {
	var parts []string
	for _, f := range spec.Fields() {
		name := "?"
		if len(f.SourceIDs) == 1 {
			if c, ok := sc.FindColumnName(f.SourceIDs[0]); ok {
				name = c
			}
		}
		parts = append(parts, fmt.Sprintf("%s(%s)", f.Transform, name))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
